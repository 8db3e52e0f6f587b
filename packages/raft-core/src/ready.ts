import type { Entry, HardState, Message, Snapshot } from '@cairn/proto';
import type { NodeId, Role, Term } from './types.js';

/** A linearizable read the leader has confirmed: serve it once applied >= index. */
export interface ReadState {
  index: number;
  /** The context passed to RawNode.readIndex(), echoed back. */
  context: Uint8Array;
}

/** Volatile state that changed; no persistence needed. */
export interface SoftState {
  leaderId: NodeId;
  role: Role;
}

/**
 * The effects the caller must carry out, in this order:
 * 1. send `messages` (may go out immediately, in parallel with step 2);
 * 2. persist `snapshot` (if any), append `entries`, persist `hardState`;
 *    fsync if `mustSync`;
 * 3. send `persistedMessages` (only after step 2 is durable);
 * 4. apply `committedEntries` in order (they are always durable locally) and
 *    serve `readStates` once applied >= their index;
 * 5. call RawNode.advance(ready).
 */
export interface Ready {
  readonly number: number;
  readonly softState: SoftState | undefined;
  readonly hardState: HardState | undefined;
  readonly entries: readonly Entry[];
  readonly snapshot: Snapshot | undefined;
  readonly messages: readonly Message[];
  readonly persistedMessages: readonly Message[];
  readonly committedEntries: readonly Entry[];
  readonly readStates: readonly ReadState[];
  readonly mustSync: boolean;
}

/** A read-only view for status pages and tests. */
export interface RaftStatus {
  id: NodeId;
  role: Role;
  term: Term;
  leaderId: NodeId;
  vote: NodeId;
  commitIndex: number;
  appliedIndex: number;
  lastIndex: number;
  firstIndex: number;
  voters: NodeId[];
  learners: NodeId[];
  /** Present on the leader only. */
  progress?: Map<
    NodeId,
    {
      matchIndex: number;
      /** The highest matchIndex known before the follower's log was found to have lost entries (0 if never). */
      matchIndexBeforeLoss: number;
      nextIndex: number;
      state: 'probe' | 'replicate' | 'snapshot';
      recentActive: boolean;
    }
  >;
  leadTransferee: NodeId;
  /** The node lost or rolled back its storage and has not been caught up yet: it does not vote. */
  recovering: boolean;
  /** Recovering, and its term was raised to a majority's (settleTerm). */
  termSettled: boolean;
  /** The application has not yet released this node's votes (config.holdVotes). */
  votesHeld: boolean;
}
