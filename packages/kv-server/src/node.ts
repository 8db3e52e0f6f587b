/**
 * The node loop by the names the API layer imports; the loop itself is
 * loop/node-loop.ts, driving the peer transport that server.ts builds.
 */
import type { NodeLoop } from './loop/node-loop.js';
import type { RaftTransport } from './transport/raft-transport.js';

export type { AppliedWrite } from './loop/ports.js';
export type RaftLoop = NodeLoop<RaftTransport>;
