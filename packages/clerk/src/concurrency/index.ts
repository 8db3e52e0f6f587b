/** Recipes on leases, txn and watch, modelled on etcd's `concurrency` package. */
export { Session, SESSION_TTL_DEFAULT_SECONDS, type SessionOptions } from './session.js';
export { Mutex, type LockOptions, type LockResult } from './mutex.js';
export { Election, type LeaderInfo } from './election.js';
