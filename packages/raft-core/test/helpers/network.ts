/**
 * A tiny deterministic in-test network: RawNodes over MemoryStorage, with a
 * FIFO message queue, partitions and a "stabilize" loop that runs every node's
 * Ready cycle until nothing is left to do.
 */
import { EntryType, Message, type Entry } from '@cairn/proto';
import {
  MemoryStorage,
  RawNode,
  createRng,
  decodeConfChange,
  type NodeId,
  type RaftConfig,
  type ReadState,
  type Ready,
} from '../../src/index.js';

export interface TestNode {
  id: NodeId;
  node: RawNode;
  storage: MemoryStorage;
  /** Data of applied normal entries (empty entries skipped). */
  applied: string[];
  appliedEntries: Entry[];
  readStates: ReadState[];
  readies: Ready[];
}

export interface NetworkOptions {
  config?: Omit<RaftConfig, 'id'>;
  seed?: number;
  learners?: number[];
}

export const ids = (...values: number[]): NodeId[] => values as NodeId[];

export class Network {
  readonly nodes = new Map<NodeId, TestNode>();
  queue: Message[] = [];
  /** Directed links that drop messages: "from->to". */
  private readonly cut = new Set<string>();
  /** Message filter: return false to drop. */
  filter: (message: Message) => boolean = () => true;
  delivered: Message[] = [];

  constructor(readonly options: NetworkOptions = {}) {}

  static create(voters: number[], options: NetworkOptions = {}): Network {
    const network = new Network(options);
    for (const id of [...voters, ...(options.learners ?? [])]) {
      network.add(id, MemoryStorage.create(ids(...voters), ids(...(options.learners ?? []))));
    }
    return network;
  }

  add(id: number, storage: MemoryStorage, appliedIndex = 0): TestNode {
    const seed = (this.options.seed ?? 1) * 1000 + id;
    const node = RawNode.create({ ...this.options.config, id: id as NodeId, appliedIndex }, storage, createRng(seed));
    const testNode: TestNode = { id: id as NodeId, node, storage, applied: [], appliedEntries: [], readStates: [], readies: [] };
    this.nodes.set(id as NodeId, testNode);
    return testNode;
  }

  get(id: number): TestNode {
    const testNode = this.nodes.get(id as NodeId);
    if (testNode === undefined) throw new Error(`no node ${id}`);
    return testNode;
  }

  /** Restarts node `id` from its storage (volatile state is lost). */
  restart(id: number): TestNode {
    const old = this.get(id);
    const applied = old.node.status().appliedIndex;
    const restarted = this.add(id, old.storage, applied);
    restarted.applied = old.applied;
    restarted.appliedEntries = old.appliedEntries;
    return restarted;
  }

  isolate(id: number): void {
    for (const other of this.nodes.keys()) {
      if (other === id) continue;
      this.cut.add(`${id}->${other}`);
      this.cut.add(`${other}->${id}`);
    }
  }

  cutLink(from: number, to: number): void {
    this.cut.add(`${from}->${to}`);
  }

  heal(): void {
    this.cut.clear();
  }

  /** Runs one Ready cycle on node `id`, as a server would. Returns whether there was one. */
  processReady(id: number): boolean {
    const testNode = this.get(id);
    if (!testNode.node.hasReady()) return false;
    const ready = testNode.node.ready();
    testNode.readies.push(ready);
    this.send(ready.messages);
    if (ready.snapshot !== undefined) testNode.storage.applySnapshot(ready.snapshot);
    testNode.storage.append(ready.entries);
    if (ready.hardState !== undefined) testNode.storage.setHardState(ready.hardState);
    this.send(ready.persistedMessages);
    for (const entry of ready.committedEntries) this.apply(testNode, entry);
    testNode.readStates.push(...ready.readStates);
    testNode.node.advance(ready);
    return true;
  }

  private apply(testNode: TestNode, entry: Entry): void {
    testNode.appliedEntries.push(entry);
    if (entry.type === EntryType.CONF_CHANGE) {
      const confState = testNode.node.applyConfChange(decodeConfChange(entry));
      testNode.storage.setConfState(confState);
    } else if (entry.data.length > 0) {
      testNode.applied.push(Buffer.from(entry.data).toString('utf8'));
    }
  }

  send(messages: readonly Message[]): void {
    for (const message of messages) {
      // Round-trip through the wire format, so nodes share no objects.
      this.queue.push(Message.decode(Message.encode(message).finish()));
    }
  }

  /** Delivers queued messages (one pass); returns how many were delivered. */
  deliverQueued(): number {
    const batch = this.queue;
    this.queue = [];
    let delivered = 0;
    for (const message of batch) {
      if (this.cut.has(`${message.from}->${message.to}`) || !this.filter(message)) continue;
      const target = this.nodes.get(message.to as NodeId);
      if (target === undefined) continue;
      this.delivered.push(message);
      target.node.step(message);
      delivered += 1;
    }
    return delivered;
  }

  /** Runs Ready cycles and deliveries until quiet. */
  stabilize(roundsMax = 1000): void {
    for (let round = 0; round < roundsMax; round += 1) {
      let busy = false;
      for (const id of this.nodes.keys()) {
        while (this.processReady(id)) busy = true;
      }
      if (this.deliverQueued() > 0) busy = true;
      if (!busy) return;
    }
    throw new Error('network did not stabilize');
  }

  tick(id: number, times = 1): void {
    for (let i = 0; i < times; i += 1) this.get(id).node.tick();
  }

  tickAll(times = 1): void {
    for (let i = 0; i < times; i += 1) {
      for (const testNode of this.nodes.values()) testNode.node.tick();
      this.stabilize();
    }
  }

  /** Campaigns on `id` and stabilizes; returns the leader's id afterwards. */
  elect(id: number): NodeId {
    this.get(id).node.campaign();
    this.stabilize();
    return this.leader();
  }

  leader(): NodeId {
    const leaders = [...this.nodes.values()].filter((testNode) => testNode.node.status().role === 'leader');
    const highest = leaders.sort((a, b) => b.node.status().term - a.node.status().term)[0];
    return highest?.id ?? (0 as NodeId);
  }

  propose(id: number, text: string): ReturnType<RawNode['propose']> {
    return this.get(id).node.propose(Buffer.from(text, 'utf8'));
  }
}
