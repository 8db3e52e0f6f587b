/**
 * Opens the node's one LevelDB: raft storage (log, hard state, membership,
 * snapshots) and the KV state machine share it, so a loop turn's writes can
 * never be half-applied across two databases.
 */
import { KvStateMachine } from './state-machine/kv-state-machine.js';
import { RaftStorage } from './storage/raft-storage.js';
import type { NodeIdentity } from './storage/database.js';

export interface NodeStores {
  storage: RaftStorage;
  stateMachine: KvStateMachine;
  close(): Promise<void>;
}

export async function openNodeStores(dataDir: string, identity: NodeIdentity, options: { valueBytesMax: number }): Promise<NodeStores> {
  const storage = await RaftStorage.open(dataDir, identity);
  try {
    const stateMachine = await KvStateMachine.open(storage.database, { valueBytesMax: options.valueBytesMax });
    return { storage, stateMachine, close: () => storage.close() };
  } catch (error) {
    await storage.close();
    throw error;
  }
}
