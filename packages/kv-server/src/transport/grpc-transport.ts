/** Transitional: the transport's old name, for node.ts until it imports RaftTransport; delete with that change. */
export type { RaftTransport as GrpcTransport } from './raft-transport.js';
