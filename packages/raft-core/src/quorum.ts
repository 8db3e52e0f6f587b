/** Pure majority-quorum arithmetic (etcd's quorum package, single config). */
import type { NodeId } from './types.js';

export type VoteResult = 'won' | 'lost' | 'pending';

/**
 * The largest index acknowledged by a majority of `voters`; `matchOf` gives a
 * voter's acknowledged index (0 if unknown). An empty voter set commits nothing.
 */
export function committedIndex(voters: readonly NodeId[], matchOf: (id: NodeId) => number): number {
  if (voters.length === 0) return 0;
  const matches = voters.map(matchOf).sort((a, b) => b - a);
  const quorum = Math.floor(voters.length / 2) + 1;
  return matches[quorum - 1]!;
}

/**
 * Whether `votes` (granted or rejected, by voter) decide an election among
 * `voters`. Votes from non-voters are ignored. An empty voter set wins, as in
 * etcd, so an unconfigured node's quorum checks are trivially satisfied.
 */
export function voteResult(voters: readonly NodeId[], votes: ReadonlyMap<NodeId, boolean>): VoteResult {
  if (voters.length === 0) return 'won';
  const quorum = Math.floor(voters.length / 2) + 1;
  let granted = 0;
  let missing = 0;
  for (const id of voters) {
    const vote = votes.get(id);
    if (vote === undefined) missing += 1;
    else if (vote) granted += 1;
  }
  if (granted >= quorum) return 'won';
  if (granted + missing >= quorum) return 'pending';
  return 'lost';
}
