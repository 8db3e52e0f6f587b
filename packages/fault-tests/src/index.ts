/**
 * Real-fault tests' shared code: a clerk workload recording one history, and
 * the linearizability check of that history (@cairn/linearizability). The tests in
 * test/ and `npm run torture` (tools/torture.ts) use it with the testkit's
 * FaultCluster. Test code only.
 */
export { HistoryLog, checkLinearizable } from './history.js';
export type { HistoryVerdict, OutcomeCounts } from './history.js';
export { Workload } from './workload.js';
export { RecordingClient, clerkTxn } from './txn-recorder.js';
export type { CallRecord, OpKind, WorkloadOptions } from './workload.js';
