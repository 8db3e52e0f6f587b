/**
 * nftables inside one node's network namespace: the partitions of the fault
 * harness, and the redirects that route peer traffic through a TCP proxy.
 *
 * A partition drops packets on the receiving side only (the input hook):
 * "A cannot reach B" is B dropping everything from A's addresses. That is
 * what a real broken link looks like to the sender: a SYN or a segment goes
 * out and nothing comes back, and the kernel retransmits until TCP gives up.
 * (Dropping on the output hook instead would fail the sender's connect() at
 * once with EPERM, a signal no real network gives.) For TCP any cut
 * direction stalls the whole connection, since data or ACKs stop flowing;
 * a one-way cut differs from a symmetric one in which side's SYNs still
 * arrive and which side notices first.
 *
 * The tables live in the namespace, so they vanish with it.
 */
import { run } from './netns.js';

const TABLE = 'cairn_fault';
const NAT_TABLE = 'cairn_fault_nat';

/** One destination rewritten to another (host:port each). */
export interface Redirect {
  readonly from: string;
  readonly to: string;
}

function nft(namespace: string, script: string): Promise<string> {
  return run('ip', ['netns', 'exec', namespace, 'nft', '-f', '-'], script);
}

function hostPort(address: string): { host: string; port: string } {
  const at = address.lastIndexOf(':');
  return { host: address.slice(0, at), port: address.slice(at + 1) };
}

/** The fault rules of one namespace. Install before the node starts. */
export class NodeFirewall {
  private blocked: readonly string[] = [];

  private constructor(readonly namespace: string) {}

  static async install(namespace: string): Promise<NodeFirewall> {
    await nft(
      namespace,
      [
        `table inet ${TABLE} {`,
        '  set blocked_sources { type ipv4_addr; }',
        '  chain input { type filter hook input priority 0; policy accept; ip saddr @blocked_sources drop; }',
        '}',
        `table ip ${NAT_TABLE} {`,
        '  chain output { type nat hook output priority -100; policy accept; }',
        '}',
      ].join('\n'),
    );
    return new NodeFirewall(namespace);
  }

  /** Drops every packet from these addresses from now on (replacing the previous list); [] heals. */
  async blockSources(addresses: readonly string[]): Promise<void> {
    const sorted = [...new Set(addresses)].sort();
    if (sorted.join() === this.blocked.join()) return;
    const add = sorted.length > 0 ? `add element inet ${TABLE} blocked_sources { ${sorted.join(', ')} }\n` : '';
    // One script is one transaction: the set never passes through a half-applied state.
    await nft(this.namespace, `flush set inet ${TABLE} blocked_sources\n${add}`);
    this.blocked = sorted;
  }

  /** The addresses dropped now. */
  blockedSources(): readonly string[] {
    return this.blocked;
  }

  /** Sends new TCP connections to `from` to `to` instead (destination NAT on the output hook). */
  async addRedirects(redirects: readonly Redirect[]): Promise<void> {
    const rules = redirects.map(({ from, to }) => {
      const source = hostPort(from);
      return `add rule ip ${NAT_TABLE} output ip daddr ${source.host} tcp dport ${source.port} dnat to ${to}`;
    });
    if (rules.length > 0) await nft(this.namespace, `${rules.join('\n')}\n`);
  }

  /** The namespace's whole ruleset, for a failure message. */
  ruleset(): Promise<string> {
    return run('ip', ['netns', 'exec', this.namespace, 'nft', 'list', 'ruleset']);
  }
}
