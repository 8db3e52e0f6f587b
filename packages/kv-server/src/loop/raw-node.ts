/** The RawNode a node loop drives, with the server's raft settings. */
import { randomBytes } from 'node:crypto';
import { assert } from '@cairn/proto';
import { createRng, type NodeId, RawNode } from '@cairn/raft-core';
import type { NodeOptions } from '../config.js';
import type { LoopLog } from './ports.js';

export function createRawNode(options: NodeOptions, storage: LoopLog, appliedIndex: number): RawNode {
  assert(Number.isSafeInteger(options.id) && options.id > 0, 'a node id is a positive integer');
  return RawNode.create(
    {
      id: options.id as NodeId,
      electionTicks: options.electionTicks,
      heartbeatTicks: options.heartbeatTicks,
      appliedIndex,
      preVote: true,
      checkQuorum: true,
      // Followers learn a new commit index from the next append or heartbeat
      // (one tick at most), so a write costs no follower an extra message,
      // Ready and reply. Follower reads are serializable (stale) anyway.
      broadcastCommit: false,
    },
    storage,
    createRng(BigInt('0x' + randomBytes(8).toString('hex'))),
  );
}
