// Goal: issue 20's watch guarantees hold across leader kills: every watch
// stream, checked by the testkit's checkWatchStreams against the writer's
// record, is ordered, unique, reliable (no missing revision), atomic and
// carries correct prevKv, including across resumes on another member after
// its node died.
// Method: a 3-node TestCluster (real processes). A writer puts and deletes
// unique values on 8 keys through sessions (a retry of an applied write
// returns its stored reply, so every acknowledged change has its revision).
// Three logical watches (a prefix watch with prevKv on a follower, a one-key
// watch on the leader, a second prefix watch) resume at last revision + 1 on
// another live member whenever their stream breaks. The leader is SIGKILLed
// and restarted three times while the writer runs. At the end a marker put
// on the watched key must reach every watch.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import type { DeleteResponse, PutResponse, WatchResponse } from '@cairn/proto';
import {
  type CallError,
  checkWatchStreams,
  type NodeProcess,
  type RecordedWatch,
  TestCluster,
  unaryCall,
  waitFor,
  type WatchedChange,
} from '@cairn/testkit';
import { WatchStreamClient } from './helpers/watch-client.js';

const KEYS = 8;
const KILLS = 3;

/** A watch that resumes at its last revision + 1 on another live member whenever its stream breaks. */
class ResumingWatch {
  readonly responses: WatchResponse[] = [];
  last: number;
  resumes = 0;
  private client: WatchStreamClient | undefined;
  private stopped = false;

  constructor(
    private readonly cluster: TestCluster,
    readonly spec: { name: string; key: string; prefix: boolean; prevKv: boolean; startRevision: number },
    private node: NodeProcess,
  ) {
    this.last = spec.startRevision - 1;
    this.open();
  }

  private open(): void {
    const client = new WatchStreamClient(this.node.grpcAddress);
    this.client = client;
    client.call.on('data', (response: WatchResponse) => {
      if (this.client !== client) return;
      if (response.canceled) assert.fail(`${this.spec.name} cancelled: ${response.cancelCode} ${response.cancelReason}`);
      if (response.events.length > 0) this.responses.push(response);
      if (response.header !== undefined) this.last = Math.max(this.last, response.header.revision);
    });
    client.call.on('status', () => this.broken(client));
    client.call.on('error', () => this.broken(client));
    client.create({ key: Buffer.from(this.spec.key), prefix: this.spec.prefix, prevKv: this.spec.prevKv, startRevision: this.last + 1 });
  }

  private broken(client: WatchStreamClient): void {
    if (this.stopped || this.client !== client) return;
    // 'error' and 'status' both come: only the first one resumes.
    this.client = undefined;
    client.close();
    this.resumes++;
    // Another member that is up (the cluster always keeps two).
    const live = this.cluster.nodes.filter((n) => n.process !== undefined && n !== this.node);
    this.node = live[this.resumes % live.length] ?? this.node;
    setTimeout(() => this.open(), 50);
  }

  stop(): void {
    this.stopped = true;
    this.client?.close();
  }
}

test('watches across leader kills: ordered, unique, reliable, atomic, resumable, correct prevKv', async () => {
  const cluster = await TestCluster.start({ size: 3 });
  const watches: ResumingWatch[] = [];
  try {
    const leader = await cluster.waitForLeader();
    const followers = cluster.nodes.filter((n) => n !== leader);
    let current: NodeProcess | undefined = leader;
    const known: Array<WatchedChange & { revision: number }> = [];
    const unknown: WatchedChange[] = [];
    let seq = 0;

    /** One write through the session, retried on any member until it is acknowledged. */
    const write = async (change: WatchedChange): Promise<void> => {
      const session = { clientId: 'watch-writer', seq: ++seq };
      const deadline = Date.now() + 30_000;
      for (let attempt = 0; ; attempt++) {
        const live = cluster.nodes.filter((n) => n.process !== undefined);
        const node = current?.process !== undefined ? current : live[attempt % live.length]!;
        const options = { deadline: Date.now() + 2000 };
        try {
          const key = Buffer.from(change.key);
          if (change.type === 'put') {
            const reply = await unaryCall<PutResponse>((cb) =>
              node.kv.put({ key, value: Buffer.from(change.value!), session, prevKv: false, lease: 0 }, new grpc.Metadata(), options, cb),
            );
            known.push({ ...change, revision: reply.header!.revision });
          } else {
            const reply = await unaryCall<DeleteResponse>((cb) =>
              node.kv.delete({ key, session, prevKv: false, prefix: false }, new grpc.Metadata(), options, cb),
            );
            if (reply.deleted) known.push({ ...change, revision: reply.header!.revision });
          }
          current = node;
          return;
        } catch (error) {
          const hint = (error as CallError).detail?.leaderId;
          current = cluster.nodes.find((n) => n.id === hint && n.process !== undefined);
          if (Date.now() > deadline) {
            unknown.push(change);
            return;
          }
          if (current === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
    };

    await write({ key: 'fw/k0', type: 'put', value: 'init' });
    const start = known[0]!.revision;
    watches.push(
      new ResumingWatch(cluster, { name: 'prefix-prevkv', key: 'fw/', prefix: true, prevKv: true, startRevision: start }, followers[0]!),
    );
    watches.push(new ResumingWatch(cluster, { name: 'one-key', key: 'fw/k3', prefix: false, prevKv: false, startRevision: start }, leader));
    watches.push(
      new ResumingWatch(cluster, { name: 'prefix', key: 'fw/', prefix: true, prevKv: false, startRevision: start }, followers[1]!),
    );

    let writes = 0;
    let writing = true;
    const writer = (async () => {
      while (writing) {
        const key = `fw/k${writes % KEYS === 3 ? 3 : Math.floor(Math.random() * KEYS)}`;
        const change: WatchedChange = Math.random() < 0.25 ? { key, type: 'delete' } : { key, type: 'put', value: `v${writes}` };
        await write(change);
        writes++;
      }
    })();

    for (let round = 0; round < KILLS; round++) {
      const target = writes + 60;
      await waitFor(() => writes >= target, { what: `60 more writes (round ${round})`, deadlineMs: 30_000 });
      const victim = await cluster.waitForLeader();
      await cluster.kill(victim);
      await cluster.waitForLeader();
      const after = writes + 30;
      await waitFor(() => writes >= after, { what: 'writes under the new leader', deadlineMs: 30_000 });
      await cluster.launch(victim, cluster.peerArgs());
    }
    writing = false;
    await writer;
    await write({ key: 'fw/k3', type: 'put', value: 'final' });
    const final = known.at(-1)!.revision;
    for (const watch of watches)
      await waitFor(() => watch.last >= final, { what: `${watch.spec.name} to reach ${final}`, deadlineMs: 30_000 });

    const recorded: RecordedWatch[] = watches.map((w) => ({ ...w.spec, until: final, responses: w.responses }));
    const violations = checkWatchStreams({ known, unknown }, recorded);
    assert.deepEqual(violations, [], 'the watch streams keep every guarantee');
    assert.ok(
      watches.some((w) => w.resumes > 0),
      'some watch resumed on another member',
    );
    assert.ok(known.length > 200, `the writer made ${known.length} changes`);
  } finally {
    for (const watch of watches) watch.stop();
    await cluster.stop();
  }
});
