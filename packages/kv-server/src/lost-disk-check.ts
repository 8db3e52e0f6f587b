/**
 * The startup check for a lost disk (docs/disk-loss.md). Raft assumes a
 * node never forgets what it acknowledged; a wiped data dir, or one restored
 * from an older copy, breaks that, and the node's vote could then elect a
 * leader that lacks acknowledged writes. So a starting node holds its votes
 * and asks its peers what they know of it:
 * - its data dir was empty, and a peer has seen the cluster run (a term past
 *   the bootstrap term): the dir was lost;
 * - a peer saw a higher term in its messages than it now has (a term never
 *   goes back), or its leader knows it held more log than it now has: the
 *   dir was rolled back.
 * Either way the node is fenced (raft-core's `recovering`, durable): it does
 * not vote or campaign until a leader has caught it up. With no such sign
 * from a majority of the voters (itself included), it releases its votes.
 * Until then it keeps asking; a leader catching it up ends the hold too.
 */
import type { SurveyResponse } from '@cairn/proto';
import type { Logger } from './logger.js';

/** Between rounds of questions while too few peers answer. */
const SURVEY_ROUND_MS = 250;
/** One question's deadline. */
const SURVEY_TIMEOUT_MS = 1_000;

export type StorageState = 'ok' | 'checking' | 'recovering';

/** What the check needs of the node. */
export interface LostDiskCheckNode {
  readonly id: number;
  /** The current voters, this node included. */
  voters(): readonly number[];
  /** Raft's current term and last log index, and whether votes are still held. */
  raftState(): { term: number; lastIndex: number; votesHeld: boolean; recovering: boolean };
  survey(peer: number, timeoutMs: number): Promise<SurveyResponse>;
  /** Found lost: fence for good (durable). */
  fence(): void;
  /** Found intact: vote again. */
  releaseVotes(): void;
}

export class LostDiskCheck {
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;
  private asked = 0;

  constructor(
    private readonly node: LostDiskCheckNode,
    /** The data dir was empty at this start (a genesis was just written, or none for a joining node). */
    private readonly startedEmpty: boolean,
    private readonly logger: Logger,
  ) {}

  /** Runs rounds until it decides, a leader catches the node up, or stop(). */
  start(): void {
    void this.round();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }

  /** What /status shows. */
  state(): StorageState {
    const raft = this.node.raftState();
    if (raft.recovering) return 'recovering';
    return raft.votesHeld ? 'checking' : 'ok';
  }

  private async round(): Promise<void> {
    if (this.stopped || !this.node.raftState().votesHeld) return;
    const peers = this.node.voters().filter((id) => id !== this.node.id);
    const answers = await Promise.allSettled(peers.map((peer) => this.node.survey(peer, SURVEY_TIMEOUT_MS)));
    if (this.stopped || !this.node.raftState().votesHeld) return;
    this.asked += 1;
    let answered = 1; // this node
    for (let i = 0; i < peers.length; i += 1) {
      const answer = answers[i]!;
      if (answer.status !== 'fulfilled' || answer.value.error !== '') continue;
      answered += 1;
      const sign = this.signOfLoss(peers[i]!, answer.value);
      if (sign !== undefined) {
        const note = 'this node will not vote or campaign until a leader has caught it up; nothing else is needed';
        // An empty data dir is also what a member started for the first time after the others has: not an error.
        if (sign.empty) this.logger.warn('data-dir-empty-in-running-cluster', { reason: sign.reason, note });
        else this.logger.error('data-dir-lost', { reason: sign.reason, note });
        this.node.fence();
        return;
      }
    }
    if (answered * 2 > this.node.voters().length) {
      this.logger.info('data-dir-checked', { peersAnswered: answered - 1, rounds: this.asked });
      this.node.releaseVotes();
      return;
    }
    if (this.asked === 1) this.logger.info('data-dir-check-waiting', { note: 'not voting until a majority of the voters has answered', voters: this.node.voters() });
    this.timer = setTimeout(() => void this.round(), SURVEY_ROUND_MS);
    this.timer.unref();
  }

  /** Why `answer` shows this node's data dir was lost or rolled back, if it does. */
  private signOfLoss(peer: number, answer: SurveyResponse): { reason: string; empty: boolean } | undefined {
    // Compared with raft's state now: it only grows while this node runs, and answers may be a moment old.
    const { term, lastIndex } = this.node.raftState();
    if (this.startedEmpty && answer.clusterStarted) {
      const reason = `the data dir was empty, but node ${peer} has seen the cluster run: this member starts after the others did, or its data dir was wiped or replaced`;
      return { reason, empty: true };
    }
    if (answer.termSeenFromYou > term) {
      return { reason: `node ${peer} saw term ${answer.termSeenFromYou} from this node, which now has term ${term}: the data dir was rolled back`, empty: false };
    }
    if (answer.matchIndex > lastIndex) {
      return { reason: `leader ${peer} knows this node held log index ${answer.matchIndex}, but its log ends at ${lastIndex}: the data dir was rolled back`, empty: false };
    }
    return undefined;
  }
}
