/**
 * The startup check for a lost disk (docs/disk-loss.md). Raft assumes a
 * node never forgets what it acknowledged; a wiped data dir, or one restored
 * from an older copy, breaks that, and the node's vote could then elect a
 * leader that lacks acknowledged writes. So a starting node holds its votes
 * and asks the voters what they know of it (the peer RPC Survey):
 * - its data dir was at genesis (empty, or only the bootstrap entries), and
 *   a peer has committed past the bootstrap term: the cluster has run, so
 *   its disk was wiped (or it is a member started after the others);
 * - a peer saw a higher term from its earlier runs than it started with (a
 *   term never goes back), or its leader knew it held more log than it now
 *   has: the data dir was rolled back.
 * Either way the node is fenced (raft-core's durable `recovering`): no vote,
 * no campaign, and its leader counts it toward no quorum until it has caught
 * up. With no such sign from a majority of the voters (itself included), it
 * releases its votes. A fenced node then also needs its term settled: once
 * every other voter of its configuration has answered and a majority of the
 * voters may vote, raised to the highest term those voting report, which is
 * at least every term anything was committed in and every term it could have
 * voted in, so no deposed leader can use it and it never votes twice in a
 * term. Until each step has its answers the node keeps asking.
 */
import type { SurveyResponse } from '@cairn/proto';
import type { Logger } from './logger.js';

/** Between rounds of questions while too few peers answer. */
const SURVEY_ROUND_MS = 250;
/** One question's deadline. */
const SURVEY_TIMEOUT_MS = 1_000;

export type StorageState = 'ok' | 'checking' | 'recovering';

/** A node's storage state as /status shows it, from raft's: fenced, votes held, or neither. */
export function storageState(raft: { recovering: boolean; votesHeld: boolean }): StorageState {
  if (raft.recovering) return 'recovering';
  return raft.votesHeld ? 'checking' : 'ok';
}

/** What the check needs of the node. */
export interface LostDiskCheckNode {
  readonly id: number;
  /** The current voters, this node included (none yet for a node that joined empty). */
  voters(): readonly number[];
  raftState(): { term: number; lastIndex: number; votesHeld: boolean; recovering: boolean; termSettled: boolean };
  survey(peer: number, timeoutMs: number): Promise<SurveyResponse>;
  /** Found lost: fence for good (durable). */
  fence(): void;
  /** Found intact: vote again. */
  releaseVotes(): void;
  /** Fenced: raise the term to `term`, a majority's highest. */
  settleTerm(term: number): void;
}

/** The node's durable state when it started, before raft ran. */
export interface StartupState {
  term: number;
  lastIndex: number;
  /** Empty, or only the bootstrap entries: nothing of the cluster's life yet. */
  atGenesis: boolean;
}

export class LostDiskCheck {
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private rounds = 0;

  constructor(
    private readonly node: LostDiskCheckNode,
    private readonly startup: StartupState,
    private readonly logger: Logger,
  ) {}

  /** Runs rounds until nothing is left to learn, or stop(). */
  start(): void {
    void this.round();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  /** What /status shows. */
  state(): StorageState {
    return storageState(this.node.raftState());
  }

  private pending(): boolean {
    const raft = this.node.raftState();
    return raft.votesHeld || (raft.recovering && !raft.termSettled);
  }

  private async round(): Promise<void> {
    if (this.stopped || !this.pending()) return;
    const voters = this.node.voters();
    const peers = voters.filter((id) => id !== this.node.id);
    const answers = await Promise.allSettled(peers.map((peer) => this.node.survey(peer, SURVEY_TIMEOUT_MS)));
    if (this.stopped) return;
    this.rounds += 1;
    const configuration = voterKey(voters);
    let answered = 0;
    let voting = 0;
    let highestTerm = 0;
    for (let i = 0; i < peers.length; i += 1) {
      const answer = answers[i]!;
      if (answer.status !== 'fulfilled' || answer.value.error !== '') continue;
      // A peer of another configuration (this node may not know yet that the
      // cluster grew): its answer decides nothing until the two agree.
      if (voterKey(answer.value.voters) !== configuration) continue;
      answered += 1;
      // A peer that may have lost its own disk may have lost its term too.
      if (answer.value.voting) {
        voting += 1;
        highestTerm = Math.max(highestTerm, answer.value.term);
      }
      const raft = this.node.raftState();
      if (!raft.votesHeld || raft.recovering) continue;
      const sign = this.signOfLoss(peers[i]!, answer.value);
      if (sign === undefined) continue;
      const note = 'this node will not vote or campaign until a leader has caught it up; nothing else is needed';
      // An empty data dir is also what a member started for the first time after the others has: not an error.
      if (sign.empty) this.logger.warn('data-dir-empty-in-running-cluster', { reason: sign.reason, note });
      else this.logger.error('data-dir-lost', { reason: sign.reason, note });
      this.node.fence();
    }
    const raft = this.node.raftState();
    if (raft.votesHeld && !raft.recovering && (answered + 1) * 2 > voters.length) {
      this.logger.info('data-dir-checked', { peersAnswered: answered, rounds: this.rounds });
      this.node.releaseVotes();
    }
    // A lone voter has nobody to ask: its own term is all there is.
    const alone = voters.length === 1 && voters[0] === this.node.id;
    // Every other voter answered (one of them may be a candidate this node voted
    // for before the loss; one that answers held or recovering has restarted,
    // so its candidacy is over), and a majority of the voters may vote (their
    // terms cover every commit: a node that lost its disk may have lost its term).
    if (raft.recovering && !raft.termSettled && (alone || (answered === peers.length && voting * 2 > voters.length))) {
      const term = Math.max(highestTerm, raft.term);
      this.logger.info('term-settled', {
        term,
        votingPeersAnswered: voting,
        note: 'leaders of earlier terms are refused; recovery ends once a leader has caught this node up',
      });
      this.node.settleTerm(term);
    }
    if (!this.pending()) return;
    if (this.rounds === 1) this.logger.info('data-dir-check-waiting', { note: 'not voting until enough voters have answered', voters });
    this.timer = setTimeout(() => void this.round(), SURVEY_ROUND_MS);
    this.timer.unref();
  }

  /** Why `answer` shows this node's data dir was lost or rolled back, if it does. */
  private signOfLoss(peer: number, answer: SurveyResponse): { reason: string; empty: boolean } | undefined {
    const { startup } = this;
    if (startup.atGenesis && answer.clusterStarted) {
      const reason = `the data dir was empty, but node ${peer} has seen the cluster run: this member starts after the others did, or its data dir was wiped or replaced`;
      return { reason, empty: true };
    }
    // Compared with the state this node started from: what it does while it asks does not hide a rollback.
    if (answer.termSeenFromYou > startup.term) {
      return {
        reason: `node ${peer} saw term ${answer.termSeenFromYou} from an earlier run of this node, which restarted at term ${startup.term}: the data dir was rolled back`,
        empty: false,
      };
    }
    if (answer.matchIndexBeforeLoss > startup.lastIndex) {
      return {
        reason: `leader ${peer} knew this node held log index ${answer.matchIndexBeforeLoss}, but it restarted with its log ending at ${startup.lastIndex}: the data dir was rolled back`,
        empty: false,
      };
    }
    // The leader's current match only grows with what this node acknowledges now, which it holds.
    const { lastIndex } = this.node.raftState();
    if (answer.matchIndex > lastIndex) {
      return {
        reason: `leader ${peer} knows this node held log index ${answer.matchIndex}, but its log ends at ${lastIndex}: the data dir was rolled back`,
        empty: false,
      };
    }
    return undefined;
  }
}

/** A configuration's voters, in a form to compare. */
function voterKey(voters: readonly number[]): string {
  return [...voters].sort((a, b) => a - b).join(',');
}
