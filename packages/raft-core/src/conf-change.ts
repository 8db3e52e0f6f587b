/** Encoding of conf-change entries, and what makes a proposed change acceptable. */
import { ConfChange, ConfChangeType, EntryType, type Entry } from '@cairn/proto';
import type { ProgressTracker } from './tracker.js';

export function encodeConfChange(change: ConfChange): Buffer {
  return Buffer.from(ConfChange.encode(change).finish());
}

/**
 * Decodes the ConfChange carried by a committed EntryType.CONF_CHANGE entry;
 * the application passes it to RawNode.applyConfChange().
 */
export function decodeConfChange(entry: Entry): ConfChange {
  if (entry.type !== EntryType.CONF_CHANGE) throw new TypeError(`entry ${entry.index} is not a conf change`);
  return ConfChange.decode(entry.data);
}

/** Whether `change` is well-formed and leaves at least one voter. */
export function isAcceptableConfChange(change: ConfChange, tracker: ProgressTracker): boolean {
  if (!Number.isSafeInteger(change.nodeId) || change.nodeId <= 0) return false;
  switch (change.type) {
    case ConfChangeType.ADD_NODE:
      return true;
    case ConfChangeType.ADD_LEARNER_NODE:
    case ConfChangeType.REMOVE_NODE: {
      const remainingVoters = [...tracker.voters].filter((id) => id !== change.nodeId);
      return remainingVoters.length > 0;
    }
    case ConfChangeType.UNRECOGNIZED:
      return false;
    default:
      return false;
  }
}
