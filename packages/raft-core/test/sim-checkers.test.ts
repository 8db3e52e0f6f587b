// Goal: every SafetyChecker property actually fires on a violation (a checker
// that never fails proves nothing), and stays quiet on valid histories.
// Method: feed hand-built observations (logs in MemoryStorage, committed
// entries, acks) straight into a SafetyChecker and assert on the error code.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryType } from '@cairn/proto';
import type { Entry } from '@cairn/proto';
import { MemoryStorage } from '../src/memory-storage.js';
import { SafetyChecker, SimViolationError } from '../src/testing/index.js';
import type { ViolationCode } from '../src/testing/index.js';
import type { NodeId } from '../src/types.js';

const N1 = 1 as NodeId;
const N2 = 2 as NodeId;
const N3 = 3 as NodeId;

function entry(index: number, term: number, value = `v${index}`): Entry {
  return { index, term, type: EntryType.NORMAL, data: Buffer.from(value, 'latin1') };
}

function logOf(...entries: Entry[]): MemoryStorage {
  const storage = MemoryStorage.create([N1, N2, N3]);
  storage.append(entries);
  return storage;
}

function throwsCode(code: ViolationCode, action: () => void): void {
  assert.throws(action, (error: unknown) => error instanceof SimViolationError && error.code === code);
}

describe('SafetyChecker', () => {
  test('election safety: two leaders in one term are reported', () => {
    const checker = new SafetyChecker();
    checker.observeLeader(N1, 3, logOf());
    checker.observeLeader(N1, 3, logOf()); // the same leader again is fine
    throwsCode('ELECTION_SAFETY', () => checker.observeLeader(N2, 3, logOf()));
  });

  test('log matching: the same index and term with different content is reported', () => {
    const checker = new SafetyChecker();
    checker.observeAppend(N1, [entry(1, 1, 'a')], logOf(entry(1, 1, 'a')));
    throwsCode('LOG_MATCHING', () => checker.observeAppend(N2, [entry(1, 1, 'b')], logOf(entry(1, 1, 'b'))));
  });

  test('log matching: the same entry after a different predecessor term is reported', () => {
    const checker = new SafetyChecker();
    const first = logOf(entry(1, 1), entry(2, 3, 'x'));
    checker.observeAppend(N1, [entry(2, 3, 'x')], first);
    const second = logOf(entry(1, 2), entry(2, 3, 'x'));
    throwsCode('LOG_MATCHING', () => checker.observeAppend(N2, [entry(2, 3, 'x')], second));
  });

  test('log matching: the full pairwise pass finds logs that agree late but differ early', () => {
    const checker = new SafetyChecker();
    const logs = new Map([
      [N1, logOf(entry(1, 1), entry(2, 2))],
      [N2, logOf(entry(1, 2), entry(2, 2))],
    ]);
    throwsCode('LOG_MATCHING', () => checker.checkLogMatching(logs));
    const fine = new Map([
      [N1, logOf(entry(1, 1), entry(2, 2))],
      [N2, logOf(entry(1, 1), entry(2, 3))],
    ]);
    checker.checkLogMatching(fine);
  });

  test('state machine safety: two nodes applying different entries at one index is reported', () => {
    const checker = new SafetyChecker();
    checker.observeCommitted(N1, entry(1, 1, 'a'), 1);
    checker.observeCommitted(N2, entry(1, 1, 'a'), 1);
    throwsCode('STATE_MACHINE_SAFETY', () => checker.observeCommitted(N3, entry(1, 1, 'b'), 1));
  });

  test('state machine safety: a restored snapshot must match what was applied', () => {
    const checker = new SafetyChecker();
    checker.observeCommitted(N1, entry(1, 1, 'a'), 1);
    checker.observeSnapshotRestored(N2, 1, [[1, 'a']]);
    throwsCode('STATE_MACHINE_SAFETY', () => checker.observeSnapshotRestored(N3, 1, [[1, 'z']]));
  });

  test('duplicate apply: one command applied at two indexes is reported', () => {
    const checker = new SafetyChecker();
    checker.observeCommitted(N1, entry(1, 1, 'same'), 1);
    throwsCode('DUPLICATE_APPLY', () => checker.observeCommitted(N1, entry(2, 1, 'same'), 1));
  });

  test('leader completeness: a leader missing an entry committed in an earlier term is reported', () => {
    const checker = new SafetyChecker();
    checker.observeCommitted(N1, entry(1, 1), 1);
    checker.observeCommitted(N1, entry(2, 1), 1);
    throwsCode('LEADER_COMPLETENESS', () => checker.observeLeader(N2, 2, logOf(entry(1, 1))));
    throwsCode('LEADER_COMPLETENESS', () => checker.observeLeader(N3, 3, logOf(entry(1, 1), entry(2, 2))));
  });

  test('leader completeness: an entry committed in a later term does not count against an older leader', () => {
    const checker = new SafetyChecker();
    checker.observeCommitted(N1, entry(1, 5), 5);
    checker.observeLeader(N2, 4, logOf());
  });

  test('durability: an acknowledged command missing on a member is reported', () => {
    const checker = new SafetyChecker();
    checker.observeAck('v1', 1);
    checker.checkDurability(new Map([[N1, [[1, 'v1'] as const]]]));
    throwsCode('DURABILITY', () =>
      checker.checkDurability(
        new Map([
          [N1, [[1, 'v1'] as const]],
          [N2, []],
        ]),
      ),
    );
  });
});
