import type { ConfState } from '@cairn/proto';
import type { AppliedValue } from './checkers.js';

/**
 * The simulated application: an append-only list of applied commands. It is
 * durable as a whole (the server writes state and appliedIndex in one synced
 * batch), so it survives crashes unchanged.
 */
export class SimStateMachine {
  appliedIndex = 0;
  values: AppliedValue[] = [];
  /** Membership as of appliedIndex, stored in snapshots taken from this state. */
  confState: ConfState;
  /** Index of the last snapshot taken or restored, to pace periodic snapshots. */
  snapshotIndex = 0;

  constructor(confState: ConfState) {
    this.confState = cloneConfState(confState);
  }

  apply(index: number, value: string | undefined): void {
    if (value !== undefined) this.values.push([index, value]);
    this.appliedIndex = index;
  }

  /** A copy, for a backup of the node's data dir. */
  clone(): SimStateMachine {
    const copy = new SimStateMachine(this.confState);
    copy.appliedIndex = this.appliedIndex;
    copy.values = [...this.values];
    copy.snapshotIndex = this.snapshotIndex;
    return copy;
  }

  /** The snapshot payload: the whole list, as JSON. */
  encode(): Buffer {
    return Buffer.from(JSON.stringify(this.values), 'utf8');
  }

  restore(index: number, confState: ConfState, data: Uint8Array): void {
    this.values = decodeValues(data);
    this.appliedIndex = index;
    this.snapshotIndex = index;
    this.confState = cloneConfState(confState);
  }
}

export function decodeValues(data: Uint8Array): AppliedValue[] {
  if (data.byteLength === 0) return [];
  const parsed: unknown = JSON.parse(Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString('utf8'));
  if (!Array.isArray(parsed)) throw new TypeError('snapshot payload is not a list');
  return parsed as AppliedValue[];
}

export function cloneConfState(confState: ConfState): ConfState {
  return {
    voters: [...confState.voters],
    learners: [...confState.learners],
    votersOutgoing: [...confState.votersOutgoing],
  };
}
