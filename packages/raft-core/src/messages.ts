/**
 * Facts about message types, peer-input validation, and the compact text
 * formats used by logs and tests.
 */
import { EntryType, MessageType, type Entry, type Message } from '@cairn/proto';
import type { Ready } from './ready.js';

/**
 * Local messages never travel between nodes; step() drops them from the network.
 * NOTE: when adding a message type, add it to every table here (a test checks).
 */
export const LOCAL_MESSAGE: Readonly<Record<MessageType, boolean>> = {
  [MessageType.UNSPECIFIED]: false,
  [MessageType.HUP]: true,
  [MessageType.BEAT]: true,
  [MessageType.PROP]: false,
  [MessageType.APP]: false,
  [MessageType.APP_RESP]: false,
  [MessageType.VOTE]: false,
  [MessageType.VOTE_RESP]: false,
  [MessageType.PRE_VOTE]: false,
  [MessageType.PRE_VOTE_RESP]: false,
  [MessageType.SNAP]: false,
  [MessageType.SNAP_STATUS]: true,
  [MessageType.UNREACHABLE]: true,
  [MessageType.HEARTBEAT]: false,
  [MessageType.HEARTBEAT_RESP]: false,
  [MessageType.TRANSFER_LEADER]: false,
  [MessageType.TIMEOUT_NOW]: false,
  [MessageType.READ_INDEX]: false,
  [MessageType.READ_INDEX_RESP]: false,
  [MessageType.CHECK_QUORUM]: true,
  [MessageType.UNRECOGNIZED]: false,
};

/** Responses; a response from a node outside the configuration is dropped. */
export const RESPONSE_MESSAGE: Readonly<Record<MessageType, boolean>> = {
  [MessageType.UNSPECIFIED]: false,
  [MessageType.HUP]: false,
  [MessageType.BEAT]: false,
  [MessageType.PROP]: false,
  [MessageType.APP]: false,
  [MessageType.APP_RESP]: true,
  [MessageType.VOTE]: false,
  [MessageType.VOTE_RESP]: true,
  [MessageType.PRE_VOTE]: false,
  [MessageType.PRE_VOTE_RESP]: true,
  [MessageType.SNAP]: false,
  [MessageType.SNAP_STATUS]: false,
  [MessageType.UNREACHABLE]: true,
  [MessageType.HEARTBEAT]: false,
  [MessageType.HEARTBEAT_RESP]: true,
  [MessageType.TRANSFER_LEADER]: false,
  [MessageType.TIMEOUT_NOW]: false,
  [MessageType.READ_INDEX]: false,
  [MessageType.READ_INDEX_RESP]: true,
  [MessageType.CHECK_QUORUM]: false,
  [MessageType.UNRECOGNIZED]: false,
};

/** Names in etcd's style, for describeMessage. */
export const MESSAGE_NAME: Readonly<Record<MessageType, string>> = {
  [MessageType.UNSPECIFIED]: 'MsgUnspecified',
  [MessageType.HUP]: 'MsgHup',
  [MessageType.BEAT]: 'MsgBeat',
  [MessageType.PROP]: 'MsgProp',
  [MessageType.APP]: 'MsgApp',
  [MessageType.APP_RESP]: 'MsgAppResp',
  [MessageType.VOTE]: 'MsgVote',
  [MessageType.VOTE_RESP]: 'MsgVoteResp',
  [MessageType.PRE_VOTE]: 'MsgPreVote',
  [MessageType.PRE_VOTE_RESP]: 'MsgPreVoteResp',
  [MessageType.SNAP]: 'MsgSnap',
  [MessageType.SNAP_STATUS]: 'MsgSnapStatus',
  [MessageType.UNREACHABLE]: 'MsgUnreachable',
  [MessageType.HEARTBEAT]: 'MsgHeartbeat',
  [MessageType.HEARTBEAT_RESP]: 'MsgHeartbeatResp',
  [MessageType.TRANSFER_LEADER]: 'MsgTransferLeader',
  [MessageType.TIMEOUT_NOW]: 'MsgTimeoutNow',
  [MessageType.READ_INDEX]: 'MsgReadIndex',
  [MessageType.READ_INDEX_RESP]: 'MsgReadIndexResp',
  [MessageType.CHECK_QUORUM]: 'MsgCheckQuorum',
  [MessageType.UNRECOGNIZED]: 'MsgUnrecognized',
};

export function isLocalMessage(type: MessageType): boolean {
  return LOCAL_MESSAGE[type] ?? false;
}

export function isResponseMessage(type: MessageType): boolean {
  return RESPONSE_MESSAGE[type] ?? false;
}

/** The response type that answers a vote request type. */
export function voteResponseType(type: MessageType.VOTE | MessageType.PRE_VOTE): MessageType {
  return type === MessageType.VOTE ? MessageType.VOTE_RESP : MessageType.PRE_VOTE_RESP;
}

function isIndex(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

function isKnownType(type: unknown): type is MessageType {
  return typeof type === 'number' && type in MESSAGE_NAME && type !== MessageType.UNSPECIFIED && type !== MessageType.UNRECOGNIZED;
}

function hasValidEntries(message: Message): boolean {
  if (!Array.isArray(message.entries)) return false;
  let previousTerm = message.logTerm;
  for (let i = 0; i < message.entries.length; i += 1) {
    const entry = message.entries[i]!;
    if (!isIndex(entry.term) || !isIndex(entry.index) || !(entry.data instanceof Uint8Array)) return false;
    if (entry.type !== EntryType.NORMAL && entry.type !== EntryType.CONF_CHANGE) return false;
    if (message.type === MessageType.APP) {
      // Entries follow the previous entry, with non-decreasing terms up to the leader's.
      if (entry.index !== message.index + 1 + i) return false;
      if (entry.term < previousTerm || entry.term > message.term || entry.term === 0) return false;
      previousTerm = entry.term;
    }
  }
  return true;
}

/**
 * Whether `message` is well-formed input from peer `message.from` to `selfId`.
 * Anything else (garbage, local-only types, misaddressed) is dropped by step().
 */
export function isValidPeerMessage(message: Message, selfId: number): boolean {
  if (typeof message !== 'object' || message === null) return false;
  if (!isKnownType(message.type) || isLocalMessage(message.type)) return false;
  for (const field of [message.to, message.from, message.term, message.logTerm, message.index, message.commit, message.rejectHint]) {
    if (!isIndex(field)) return false;
  }
  if (message.to !== selfId || message.from === 0 || message.from === selfId) return false;
  if (!(message.context instanceof Uint8Array)) return false;
  // Proposals and read requests are forwarded without a term (etcd); everything else carries one.
  const forwarded = message.type === MessageType.PROP || message.type === MessageType.READ_INDEX;
  if (forwarded !== (message.term === 0)) return false;
  if (!hasValidEntries(message)) return false;
  if (message.type !== MessageType.APP && message.type !== MessageType.PROP && message.entries.length > 0) return false;
  if (message.type === MessageType.PROP && message.entries.length === 0) return false;
  if (message.type === MessageType.SNAP) {
    const metadata = message.snapshot?.metadata;
    if (metadata === undefined || !isIndex(metadata.index) || metadata.index === 0 || !isIndex(metadata.term)) return false;
    if (metadata.confState === undefined || !(message.snapshot!.data instanceof Uint8Array)) return false;
  }
  return true;
}

function quoteData(data: Uint8Array): string {
  const text = Buffer.from(data).toString('utf8');
  return JSON.stringify(text.length > 32 ? `${text.slice(0, 32)}…` : text);
}

/** `1/12 EntryNormal "prop_1"` */
export function describeEntry(entry: Entry): string {
  const kind = entry.type === EntryType.CONF_CHANGE ? 'EntryConfChange' : 'EntryNormal';
  return `${entry.term}/${entry.index} ${kind}${entry.data.length > 0 ? ` ${quoteData(entry.data)}` : ''}`;
}

/** `1->2 MsgApp Term:1 Log:1/11 Commit:11 Entries:[1/12 EntryNormal "prop_1"]` */
export function describeMessage(message: Message): string {
  const parts = [`${message.from}->${message.to} ${MESSAGE_NAME[message.type] ?? `Msg(${message.type})`} Term:${message.term}`];
  parts.push(`Log:${message.logTerm}/${message.index}`);
  if (message.commit !== 0) parts.push(`Commit:${message.commit}`);
  if (message.reject) parts.push(`Rejected (Hint: ${message.rejectHint})`);
  if (message.entries.length > 0) parts.push(`Entries:[${message.entries.map(describeEntry).join(', ')}]`);
  const metadata = message.snapshot?.metadata;
  if (metadata !== undefined) parts.push(`Snapshot: Index:${metadata.index} Term:${metadata.term}`);
  if (message.context.length > 0) parts.push(`Context:${quoteData(message.context)}`);
  if (message.recovering === true) parts.push('Recovering');
  if (message.afterLoss === true) parts.push('AfterLoss');
  return parts.join(' ');
}

/** A multi-line, stable rendering of a Ready for logs and tests. */
export function describeReady(ready: Ready): string {
  const lines: string[] = [`Ready #${ready.number}${ready.mustSync ? ' MustSync' : ''}:`];
  if (ready.softState) lines.push(`Lead:${ready.softState.leaderId} State:${ready.softState.role}`);
  if (ready.hardState) {
    lines.push(
      `HardState Term:${ready.hardState.term} Vote:${ready.hardState.vote} Commit:${ready.hardState.commit}` +
        (ready.hardState.recovering === true ? ' Recovering' : ''),
    );
  }
  if (ready.snapshot?.metadata) lines.push(`Snapshot Index:${ready.snapshot.metadata.index} Term:${ready.snapshot.metadata.term}`);
  const section = (title: string, items: readonly string[]): void => {
    if (items.length === 0) return;
    lines.push(`${title}:`);
    for (const item of items) lines.push(`  ${item}`);
  };
  section('Entries', ready.entries.map(describeEntry));
  section('CommittedEntries', ready.committedEntries.map(describeEntry));
  section('Messages', ready.messages.map(describeMessage));
  section('PersistedMessages', ready.persistedMessages.map(describeMessage));
  section(
    'ReadStates',
    ready.readStates.map((state) => `Index:${state.index} Context:${quoteData(state.context)}`),
  );
  return lines.join('\n');
}
