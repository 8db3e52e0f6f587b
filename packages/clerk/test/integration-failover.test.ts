// Goal: an ordinary failover costs a clerk's callers nothing but latency: while the leader is
// killed (SIGKILL) and the followers still name it for a while, every append issued within a
// generous deadline succeeds, and each is applied exactly once (issue 17 §4: calls used to fail
// within ~0.3 s with NotLeaderError or UnknownOutcomeError while the followers named the dead
// leader).
// Method: one real 3-node cluster (cairn-server processes on 127.0.0.1, OS-assigned ports) with
// an election timeout of 3–6 s.
// Five clerks append unique tokens (`<clerk>:<n>;`) to one key with a 20 s deadline, three over
// the default transport (the pipelined raw KV link), two over unary gRPC calls; the leader is
// killed with SIGKILL mid-run. Every append must be acknowledged, and the final value must hold
// each token exactly once, in each clerk's order.
// Synchronisation is waitFor with deadlines only.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TestCluster } from '@cairn/testkit';
import { Clerk, GrpcTransport } from '../src/index.js';
import { addressesOf, ClerkWorker, exactlyOnceViolations, waitForNewLeader } from './integration-support.js';

const CLERKS = 5;
/** Clerks from this index on call unary gRPC instead of the pipeline. */
const UNARY_FROM = 3;
const DEADLINE_MS = 20_000;

describe('a leader failover under five appending clerks', () => {
  let cluster: TestCluster;
  let control: Clerk;

  before(async () => {
    // An election timeout of 3–6 s (60 ticks of 50 ms, randomised up to twice that; deployments
    // across zones use such values): the followers keep naming the dead leader for seconds, well
    // within the deadline (the old redirect cap ended calls after about 1.5 s).
    cluster = await TestCluster.start({ size: 3, extraArgs: ['--election-ticks', '60'] });
    await cluster.waitForLeader();
    control = await Clerk.connect({ endpoints: addressesOf(cluster) });
  });

  after(async () => {
    control?.close();
    await cluster?.stop();
  });

  test('SIGKILL of the leader mid-run: every append within its deadline succeeds, each applied exactly once', async (t) => {
    const clerks = await Promise.all(
      Array.from({ length: CLERKS }, (_, index) =>
        Clerk.connect(
          { endpoints: addressesOf(cluster), deadlineMs: DEADLINE_MS },
          index >= UNARY_FROM ? { transport: new GrpcTransport({ pipeline: false }) } : {},
        ),
      ),
    );
    const workers = clerks.map((clerk, index) => new ClerkWorker(`f${index}`, clerk, { logKey: 'failover/log' }));
    try {
      workers.forEach((worker) => worker.start());
      await Promise.all(workers.map((worker) => worker.progress(5, 'appends before the kill', DEADLINE_MS)));
      const former = await cluster.waitForLeader();
      await cluster.kill(former);
      await waitForNewLeader(cluster, former.id);
      await Promise.all(workers.map((worker) => worker.progress(5, 'appends after the kill', DEADLINE_MS)));
      await Promise.all(workers.map((worker) => worker.stop()));

      const appends = workers.reduce((sum, worker) => sum + worker.tokens.size, 0);
      t.diagnostic(`${appends} appends by ${CLERKS} clerks`);
      assert.deepEqual(
        workers.flatMap((worker) => worker.failures),
        [],
        'every append succeeds within its deadline',
      );
      const log = (await control.get('failover/log'))?.value.toString() ?? '';
      assert.deepEqual(exactlyOnceViolations(log, workers), []);
      assert.equal(log.split(';').length - 1, appends, 'the log holds exactly the appended tokens');
    } finally {
      await Promise.all(workers.map((worker) => worker.abandon()));
    }
  });
});
