/**
 * What the node loop needs from the world around it, as interfaces: the peer
 * transport, durable storage (log, snapshots, membership) and the state
 * machine. The loop is written against these; server.ts plugs in the
 * concrete classes (RaftTransport, RaftStorage, KvStateMachine).
 */
import type { CommandResult, Message } from '@cairn/proto';
import type { NodeStateMachine } from '../state-machine/ports.js';
import type { NodeStorage } from '../storage/ports.js';

export type { AppliedResult } from '../state-machine/ports.js';

/** A write's result and the log index it was applied at (the client's read-your-writes token). */
export interface AppliedWrite {
  readonly index: number;
  readonly result: CommandResult;
}

/** The peer links as the loop uses them: raft's messages out, and who the peers are. */
export interface PeerTransport extends PeerDirectory {
  /** Sends to each message's `to`; never blocks (a message the link cannot take is dropped, as a network would). */
  send(messages: readonly Message[]): void;
  close(): void;
}

/** Where each peer is: what a membership change updates in the transport. */
export interface PeerDirectory {
  /** Connects to (or re-addresses) peer `id`; this node's own id is ignored. */
  setPeer(id: number, address: string): void;
  removePeer(id: number): void;
}

/** What a peer asking at startup learns of it from this node (transport.proto Survey). */
export interface SurveyAnswer {
  clusterStarted: boolean;
  term: number;
  matchIndex: number;
  matchIndexBeforeLoss: number;
  voting: boolean;
  voters: number[];
}

/** What the loop offers the transport for what arrives from peers; the transport calls only these. */
export interface PeerInbound {
  /** Messages from a peer, already checked (cluster, recipient, membership). */
  receive(messages: Message[]): void;
  /** A peer could not be reached (raft: reportUnreachable). */
  unreachable(peer: number): void;
  /** A snapshot send finished (raft: reportSnapshot). */
  snapshotStatus(peer: number, ok: boolean): void;
  /** Whether a node id is a current member (unknown peers are refused). */
  isMember(peer: number): boolean;
  /** A peer announced its HTTP address. */
  peerHttpAddress(peer: number, address: string): void;
  /** What raft knows of a peer that asks at startup. */
  surveyAnswer(peer: number): SurveyAnswer;
}

/** Something the dashboard and logs show (leader changes, conf changes, snapshots). */
export interface NodeEvents {
  event(kind: string, fields: Record<string, unknown>): void;
}

/** The log as raft reads it (raft-core's Storage) and as the loop writes it, one batch per Ready. */
export type LoopLog = Pick<NodeStorage, 'initialState' | 'entries' | 'term' | 'firstIndex' | 'lastIndex' | 'snapshot' | 'write'>;

/** Snapshot files and log compaction behind them. */
export type LoopSnapshots = Pick<
  NodeStorage,
  'prepareSnapshot' | 'recordSnapshot' | 'compact' | 'onSnapshotWanted' | 'snapshotInfo' | 'snapshotSizeBytes' | 'snapshotIndex'
>;

/** The durable membership (ConfState and member addresses). */
export type LoopMembership = Pick<NodeStorage, 'saveMembership' | 'stageMembership'>;

/** All the storage the loop uses. */
export type LoopStorage = LoopLog & LoopSnapshots & LoopMembership;

export type LoopStateMachine = NodeStateMachine;

export type { PreparedSnapshot, StagedWrite } from '../storage/ports.js';
