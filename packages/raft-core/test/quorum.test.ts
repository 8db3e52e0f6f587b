// Goal: committedIndex and voteResult implement majority quorums exactly.
// Method: hand-written tables, then a property test against a naive
// implementation on inputs drawn from the project's seeded Rng.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { committedIndex, createRng, voteResult, type NodeId, type VoteResult } from '../src/index.js';

const nodes = (...values: number[]): NodeId[] => values as NodeId[];

describe('committedIndex', () => {
  const cases: Array<[string, number[], number[], number]> = [
    ['single voter', [1], [5], 5],
    ['three voters, majority at 5', [1, 2, 3], [7, 5, 1], 5],
    ['three voters, two at zero', [1, 2, 3], [7, 0, 0], 0],
    ['four voters need three', [1, 2, 3, 4], [9, 8, 2, 1], 2],
    ['five voters', [1, 2, 3, 4, 5], [10, 10, 3, 3, 3], 3],
  ];
  for (const [name, voters, matches, expected] of cases) {
    test(name, () => {
      const match = new Map(voters.map((id, i) => [id, matches[i]!]));
      assert.equal(
        committedIndex(nodes(...voters), (id) => match.get(id) ?? 0),
        expected,
      );
    });
  }

  test('an empty voter set commits nothing', () => {
    assert.equal(
      committedIndex([], () => 9),
      0,
    );
  });

  test('matches property: the result is the largest index a majority has reached', () => {
    const rng = createRng(42);
    for (let trial = 0; trial < 2000; trial += 1) {
      const count = 1 + rng.intBelow(7);
      const voters = nodes(...Array.from({ length: count }, (_, i) => i + 1));
      const match = new Map(voters.map((id) => [id, rng.intBelow(20)]));
      const naive = Math.max(
        0,
        ...[...Array(21).keys()].filter((index) => voters.filter((id) => match.get(id)! >= index).length * 2 > count),
      );
      assert.equal(
        committedIndex(voters, (id) => match.get(id)!),
        naive,
      );
    }
  });
});

describe('voteResult', () => {
  const votes = (entries: Array<[number, boolean]>) => new Map(entries.map(([id, v]) => [id as NodeId, v]));
  const cases: Array<[string, number[], Array<[number, boolean]>, VoteResult]> = [
    ['single voter, no vote', [1], [], 'pending'],
    ['single voter, granted', [1], [[1, true]], 'won'],
    [
      'three voters, two granted',
      [1, 2, 3],
      [
        [1, true],
        [2, true],
      ],
      'won',
    ],
    [
      'three voters, two rejected',
      [1, 2, 3],
      [
        [1, true],
        [2, false],
        [3, false],
      ],
      'lost',
    ],
    [
      'three voters, split pending',
      [1, 2, 3],
      [
        [1, true],
        [2, false],
      ],
      'pending',
    ],
    [
      'four voters, two granted',
      [1, 2, 3, 4],
      [
        [1, true],
        [2, true],
        [3, false],
      ],
      'pending',
    ],
    [
      'non-voters are ignored',
      [1, 2, 3],
      [
        [1, true],
        [7, true],
        [8, true],
      ],
      'pending',
    ],
  ];
  for (const [name, voters, given, expected] of cases) {
    test(name, () => assert.equal(voteResult(nodes(...voters), votes(given)), expected));
  }

  test('matches property against a naive count', () => {
    const rng = createRng(7);
    for (let trial = 0; trial < 2000; trial += 1) {
      const count = 1 + rng.intBelow(7);
      const voters = nodes(...Array.from({ length: count }, (_, i) => i + 1));
      const given = new Map<NodeId, boolean>();
      for (const id of voters) {
        const draw = rng.intBelow(3);
        if (draw < 2) given.set(id, draw === 0);
      }
      const yes = [...given.values()].filter(Boolean).length;
      const no = [...given.values()].filter((v) => !v).length;
      const naive: VoteResult = yes * 2 > count ? 'won' : (count - no) * 2 > count ? 'pending' : 'lost';
      assert.equal(voteResult(voters, given), naive);
    }
  });
});

describe('createRng', () => {
  test('the same seed gives the same sequence on every run', () => {
    const a = createRng(123n);
    const b = createRng(123);
    const first = Array.from({ length: 10 }, () => a.intBelow(1000));
    assert.deepEqual(
      first,
      Array.from({ length: 10 }, () => b.intBelow(1000)),
    );
    assert.notDeepEqual(
      first,
      Array.from({ length: 10 }, () => createRng(124).intBelow(1000)),
    );
  });

  test('intBelow stays in range and float in [0, 1)', () => {
    const rng = createRng(9);
    const seen = new Set<number>();
    for (let i = 0; i < 1000; i += 1) {
      const value = rng.intBelow(10);
      assert.ok(Number.isInteger(value) && value >= 0 && value < 10);
      seen.add(value);
      const f = rng.float();
      assert.ok(f >= 0 && f < 1);
    }
    assert.equal(seen.size, 10);
  });
});
