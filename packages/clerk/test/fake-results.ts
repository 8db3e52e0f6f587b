/** What the clerk tests' fake nodes answer, shared by the gRPC and raw-link fakes. */
import type { PipelineOp, PipelineResult } from '@cairn/proto';

export const header = { memberId: 1, term: 1, appliedIndex: 1, leaderId: 1, revision: 1, clusterId: '' };

/** A get returns the key reversed; a put returns `putVersion`. */
export function answer(op: PipelineOp, putVersion: number): PipelineResult {
  if (op.get !== undefined) {
    const key = Buffer.from(op.get.key);
    return {
      id: op.id,
      get: {
        header,
        kv: {
          key,
          value: Buffer.from([...key].reverse()),
          version: 1,
          createIndex: 1,
          modIndex: 1,
          createRevision: 1,
          modRevision: 1,
          lease: 0,
        },
      },
    };
  }
  return { id: op.id, put: { header, version: putVersion, prevKv: undefined } };
}
