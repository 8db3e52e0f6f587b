/**
 * Helpers to drive a single RawNode by hand: build it over a pre-filled
 * MemoryStorage, feed it crafted messages, and drain its Ready cycles.
 */
import { EntryType, Message, type DeepPartial, type Entry } from '@cairn/proto';
import { MemoryStorage, RawNode, createRng, type NodeId, type RaftConfig, type ReadState } from '../../src/index.js';

export interface ManualNode {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  committed: Entry[];
  readStates: ReadState[];
}

export interface ManualOptions {
  /** Log as [index, term] pairs, contiguous from 1. */
  log?: Array<[number, number]>;
  /** Entries appended after `log` (e.g. conf changes). */
  extraEntries?: Entry[];
  term?: number;
  vote?: number;
  commit?: number;
  learners?: number[];
  config?: Omit<RaftConfig, 'id'>;
  seed?: number;
}

export function entry(index: number, term: number, data = ''): Entry {
  return { index, term, type: EntryType.NORMAL, data: Buffer.from(data, 'utf8') };
}

export function newNode(id: number, voters: number[], options: ManualOptions = {}): ManualNode {
  const storage = MemoryStorage.create(voters as NodeId[], (options.learners ?? []) as NodeId[]);
  storage.append((options.log ?? []).map(([index, term]) => entry(index, term)));
  storage.append(options.extraEntries ?? []);
  storage.setHardState({ term: options.term ?? 0, vote: options.vote ?? 0, commit: options.commit ?? 0 });
  const node = RawNode.create({ ...options.config, id: id as NodeId }, storage, createRng(options.seed ?? id));
  return { id: id as NodeId, node, storage, committed: [], readStates: [] };
}

export function msg(fields: DeepPartial<Message>): Message {
  return Message.fromPartial(fields);
}

/** Runs Ready cycles (persisting to storage) until none is left; returns every message sent. */
export function drain(manual: ManualNode): Message[] {
  const sent: Message[] = [];
  for (let i = 0; i < 100 && manual.node.hasReady(); i += 1) {
    const ready = manual.node.ready();
    sent.push(...ready.messages);
    if (ready.snapshot !== undefined) manual.storage.applySnapshot(ready.snapshot);
    manual.storage.append(ready.entries);
    if (ready.hardState !== undefined) manual.storage.setHardState(ready.hardState);
    sent.push(...ready.persistedMessages);
    manual.committed.push(...ready.committedEntries);
    manual.readStates.push(...ready.readStates);
    manual.node.advance(ready);
  }
  return sent;
}

/** Messages of one type in `messages`. */
export function ofType(messages: readonly Message[], type: number): Message[] {
  return messages.filter((message) => message.type === type);
}
