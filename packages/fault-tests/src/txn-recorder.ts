/**
 * Records transactions and revision-carrying plain operations in the history
 * format of @cairn/proto (txn records, `revision`, `meta`), for the kv model of
 * @cairn/linearizability. A txn is written once, in the history's own form
 * (HistoryTxn), and turned into the Clerk's `compare.*` / `op.*` here, so what
 * is recorded is exactly what was sent. Test code only.
 */
import { Clerk, ClerkError, compare, op, type KeyValue, type TxnCompare, type TxnOp, type TxnResult, type TxnSpec } from '@cairn/clerk';
import type { HistoryCompare, HistoryKv, HistoryRecord, HistoryRecordType, HistoryTxn, HistoryTxnOp, HistoryTxnResult } from '@cairn/proto';
import type { HistoryLog } from './history.js';

/** One clerk whose txn, put and get calls are recorded into a shared log. */
export class RecordingClient {
  private nextId = 1;

  constructor(
    readonly clerk: Clerk,
    readonly process: string,
    private readonly log: HistoryLog,
  ) {}

  async txn(txn: HistoryTxn): Promise<TxnResult> {
    return this.recorded(
      { op: 'txn', key: '', txn },
      () => this.clerk.txn(clerkTxn(txn)),
      (result) => ({
        revision: result.revision,
        txnResult: historyTxnResult(result),
      }),
    );
  }

  async put(key: string, value: string): Promise<void> {
    await this.recorded(
      { op: 'put', key, value },
      () => this.clerk.put(key, value),
      (result) => ({
        result: result.version,
        revision: result.revision,
      }),
    );
  }

  async get(key: string): Promise<KeyValue | undefined> {
    return this.recorded(
      { op: 'get', key },
      () => this.clerk.get(key),
      (kv) => (kv === undefined ? { result: null } : { result: kv.value.toString(), meta: meta(kv) }),
    );
  }

  private async recorded<T>(
    fields: Pick<HistoryRecord, 'op' | 'key'> & Partial<HistoryRecord>,
    run: () => Promise<T>,
    observed: (result: T) => Partial<HistoryRecord>,
  ): Promise<T> {
    const id = this.nextId++;
    const emit = (type: HistoryRecordType, extra: Partial<HistoryRecord>): void =>
      this.log.record({ type, process: this.process, id, time: Math.round(performance.now() * 1e6), ...fields, ...extra });
    emit('invoke', {});
    try {
      const result = await run();
      emit('ok', observed(result));
      return result;
    } catch (error) {
      // The Clerk's own rule: a write fails for certain unless its outcome is unknown; a read always fails.
      const code = error instanceof ClerkError ? error.code : 'INTERNAL';
      const unknown = fields.op !== 'get' && (code === 'UNKNOWN_OUTCOME' || !(error instanceof ClerkError));
      emit(unknown ? 'info' : 'fail', { error: code });
      throw error;
    }
  }
}

function meta(kv: KeyValue): NonNullable<HistoryRecord['meta']> {
  return { version: kv.version, createRevision: kv.createRevision, modRevision: kv.modRevision, lease: kv.lease };
}

function historyKv(kv: KeyValue): HistoryKv {
  return { key: kv.key.toString(), value: kv.value.toString(), ...meta(kv) };
}

/** The Clerk's txn for a recorded one. */
export function clerkTxn(txn: HistoryTxn): TxnSpec {
  return { if: txn.compare.map(clerkCompare), then: txn.success.map(clerkOp), else: txn.failure.map(clerkOp) };
}

function clerkCompare(c: HistoryCompare): TxnCompare {
  const number = (): number => {
    if (typeof c.operand !== 'number') throw new Error(`${c.target} compares need a number`);
    return c.operand;
  };
  switch (c.target) {
    case 'value':
      return compare.value(c.key, c.op, String(c.operand));
    case 'version':
      return compare.version(c.key, c.op, number());
    case 'create':
      return compare.createRevision(c.key, c.op, number());
    case 'mod':
      return compare.modRevision(c.key, c.op, number());
    case 'lease':
      return compare.lease(c.key, c.op, number());
  }
}

function clerkOp(o: HistoryTxnOp): TxnOp {
  switch (o.op) {
    case 'put':
      return op.put(o.key, o.value, o.lease === undefined ? {} : { lease: o.lease });
    case 'get':
      return op.get(o.key);
    case 'delete':
      return op.delete(o.key, { prefix: o.prefix === true });
    case 'range':
      return op.range(o.key);
  }
}

function historyTxnResult(result: TxnResult): HistoryTxnResult {
  return {
    succeeded: result.succeeded,
    results: result.responses.map((response) => {
      switch (response.type) {
        case 'put':
          return { op: 'put' };
        case 'get':
          return { op: 'get', kv: response.kv === undefined ? null : historyKv(response.kv) };
        case 'delete':
          return { op: 'delete', deleted: response.count };
        case 'range':
          return { op: 'range', kvs: response.kvs.map(historyKv) };
      }
    }),
  };
}
