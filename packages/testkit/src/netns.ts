/**
 * Network namespaces for real-fault tests: one namespace per node, each
 * joined by a veth pair to a bridge in a "hub" namespace, and one more veth
 * pair from the hub to the test process's own (root) namespace. Every
 * network of one run is a private /24 (10.77.<octet>.0/24): node N is
 * .N, the test process is .254, and .100+N are spare addresses the TCP
 * proxy may listen on for node N.
 *
 * Why a hub namespace and not a bridge in the root namespace: the root
 * namespace of a CI machine or container may have firewall rules for
 * bridged traffic (Docker's FORWARD policy DROP with br_netfilter); a fresh
 * namespace has none.
 *
 * Names carry the owning process's pid (`cairnft-<pid>-<octet>-…`), so a
 * later run can remove what a killed run left behind without touching a
 * live run's namespaces (see removeLeftovers).
 */
import { execFile } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Prefix of every namespace, and (with the pid) of every temp dir, this harness creates. */
export const NAME_PREFIX = 'cairnft';
/** The first two octets of every private network the harness creates. */
const SUBNET_PREFIX = '10.77';
/** The test process's address on each network. */
const ROOT_HOST = 254;
/** Node N's proxy address is .(PROXY_HOST_BASE + N). */
const PROXY_HOST_BASE = 100;
/** Node ids must fit below the proxy addresses. */
export const NODE_ID_MAX = 99;

/** Something the fault harness could not do: a command failed or a resource is missing. */
export class FaultHarnessError extends Error {
  constructor(
    readonly code: 'COMMAND_FAILED' | 'UNSUPPORTED' | 'NO_SUBNET' | 'NODE_START_FAILED' | 'BAD_ARGUMENT',
    message: string,
  ) {
    super(message);
    this.name = 'FaultHarnessError';
  }
}

/** Runs a command; rejects with FaultHarnessError carrying its stderr. */
export function run(command: string, args: readonly string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      if (error) reject(new FaultHarnessError('COMMAND_FAILED', `${command} ${args.join(' ')}: ${stderr.trim() || error.message}`));
      else resolve(stdout);
    });
    if (input !== undefined) child.stdin!.end(input);
  });
}

/**
 * Why real-fault tests cannot run here, or undefined when they can: they need
 * root, `ip` (iproute2) and `nft` (nftables), and the kernel must allow a
 * network namespace (some containers do not).
 */
export async function unsupportedReason(): Promise<string | undefined> {
  if (process.platform !== 'linux') return 'real-fault tests need Linux network namespaces';
  if (process.getuid?.() !== 0) return 'real-fault tests need root (network namespaces and nftables); CI runs them as root';
  for (const [tool, pkg] of [
    ['ip', 'iproute2'],
    ['nft', 'nftables'],
  ] as const) {
    try {
      await run(tool, ['-V']);
    } catch {
      return `real-fault tests need \`${tool}\` (Debian package ${pkg}; .ci/run installs it)`;
    }
  }
  const probe = `${NAME_PREFIX}-${process.pid}-probe`;
  try {
    await run('ip', ['netns', 'add', probe]);
    await run('ip', ['netns', 'exec', probe, 'nft', 'list', 'ruleset']);
  } catch (error) {
    return `this kernel or container does not allow network namespaces with nftables: ${(error as Error).message}`;
  } finally {
    await run('ip', ['netns', 'del', probe]).catch(() => undefined);
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: alive but not ours; only ESRCH means gone.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes namespaces (with their processes, veths and nftables tables) and
 * temp dirs left by harness runs whose process is gone (a test runner
 * killed mid-test). A live run's resources are never touched.
 */
export async function removeLeftovers(): Promise<void> {
  const listed = await run('ip', ['netns', 'list']).catch(() => '');
  const pattern = new RegExp(`^${NAME_PREFIX}-(\\d+)-(\\d+)-\\S+`);
  for (const line of listed.split('\n')) {
    const match = pattern.exec(line.trim());
    if (match === null || isAlive(Number(match[1]))) continue;
    await deleteNamespace(match[0]);
    await run('ip', ['link', 'del', rootLinkName(Number(match[2]))]).catch(() => undefined);
  }
  for (const entry of readdirSync(tmpdir())) {
    const match = new RegExp(`^${NAME_PREFIX}-(\\d+)-`).exec(entry);
    if (match !== null && !isAlive(Number(match[1]))) rmSync(join(tmpdir(), entry), { recursive: true, force: true });
  }
}

/** Kills every process in a namespace, then deletes it. */
async function deleteNamespace(name: string): Promise<void> {
  const pids = await run('ip', ['netns', 'pids', name]).catch(() => '');
  for (const pid of pids.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await run('ip', ['netns', 'del', name]).catch(() => undefined);
}

function rootLinkName(octet: number): string {
  // Interface names have at most 15 characters; the octet makes it unique on the machine.
  return `cft${octet}`;
}

/** One node's place on the network. */
export interface NamespaceNode {
  readonly id: number;
  /** The namespace name, for `ip netns exec`. */
  readonly namespace: string;
  /** The node's own address. */
  readonly address: string;
  /** An address in the test process's namespace where a proxy for this node may listen. */
  readonly proxyAddress: string;
}

/**
 * A private network of node namespaces. Create with `NetworkLab.create()`;
 * `remove()` deletes every namespace and link it made (and kills whatever
 * still runs in them).
 */
export class NetworkLab {
  private readonly members = new Map<number, NamespaceNode>();
  private removed = false;

  private constructor(
    /** The third octet of 10.77.x.0/24. */
    readonly octet: number,
    private readonly hub: string,
  ) {}

  /** Creates the hub namespace and the link to the test process, on a /24 no other live run uses. */
  static async create(): Promise<NetworkLab> {
    await removeLeftovers();
    const candidates = Array.from({ length: 254 }, (_, i) => i + 1).sort(() => Math.random() - 0.5);
    for (const octet of candidates.slice(0, 40)) {
      const hub = `${NAME_PREFIX}-${process.pid}-${octet}-hub`;
      await run('ip', ['netns', 'add', hub]);
      const lab = new NetworkLab(octet, hub);
      try {
        // Claiming the root-side link name is atomic: a concurrent run that picked the same octet fails here.
        await run('ip', ['link', 'add', rootLinkName(octet), 'type', 'veth', 'peer', 'name', 'up0', 'netns', hub]);
      } catch {
        await deleteNamespace(hub);
        continue;
      }
      try {
        await lab.wireHub();
        return lab;
      } catch (error) {
        await lab.remove();
        throw error;
      }
    }
    throw new FaultHarnessError('NO_SUBNET', `no free ${SUBNET_PREFIX}.x.0/24 network after 40 tries`);
  }

  private async wireHub(): Promise<void> {
    const link = rootLinkName(this.octet);
    await run('ip', ['-n', this.hub, 'link', 'add', 'br0', 'type', 'bridge']);
    await run('ip', ['-n', this.hub, 'link', 'set', 'br0', 'up']);
    await run('ip', ['-n', this.hub, 'link', 'set', 'up0', 'master', 'br0', 'up']);
    await run('ip', ['addr', 'add', `${this.host(ROOT_HOST)}/24`, 'dev', link]);
    await run('ip', ['link', 'set', link, 'up']);
  }

  /** The test process's own address on this network. */
  get rootAddress(): string {
    return this.host(ROOT_HOST);
  }

  private host(last: number): string {
    return `${SUBNET_PREFIX}.${this.octet}.${last}`;
  }

  /** Creates node `id`'s namespace, wired to the hub, with loopback up. */
  async addNode(id: number): Promise<NamespaceNode> {
    if (!Number.isInteger(id) || id < 1 || id > NODE_ID_MAX)
      throw new FaultHarnessError('BAD_ARGUMENT', `node id ${id} is outside 1..${NODE_ID_MAX}`);
    const namespace = `${NAME_PREFIX}-${process.pid}-${this.octet}-n${id}`;
    const node: NamespaceNode = { id, namespace, address: this.host(id), proxyAddress: this.host(PROXY_HOST_BASE + id) };
    await run('ip', ['netns', 'add', namespace]);
    this.members.set(id, node);
    await run('ip', ['-n', this.hub, 'link', 'add', `n${id}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', namespace]);
    await run('ip', ['-n', this.hub, 'link', 'set', `n${id}`, 'master', 'br0', 'up']);
    await run('ip', ['-n', namespace, 'link', 'set', 'lo', 'up']);
    await run('ip', ['-n', namespace, 'addr', 'add', `${node.address}/24`, 'dev', 'eth0']);
    await run('ip', ['-n', namespace, 'link', 'set', 'eth0', 'up']);
    // The proxy's address for this node lives on the test process's side of the network.
    await run('ip', ['addr', 'add', `${node.proxyAddress}/32`, 'dev', rootLinkName(this.octet)]);
    return node;
  }

  nodes(): NamespaceNode[] {
    return [...this.members.values()];
  }

  /** Deletes every namespace and link of this network, killing what runs inside. Safe to call twice. */
  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    for (const node of this.members.values()) await deleteNamespace(node.namespace);
    // Deleting the link explicitly: a namespace's own links go away asynchronously.
    await run('ip', ['link', 'del', rootLinkName(this.octet)]).catch(() => undefined);
    await deleteNamespace(this.hub);
  }
}
