/**
 * The data of a snapshot: u32 length of the members JSON, the members JSON,
 * then the state machine's bytes. Members travel with the state so that a
 * node restored from a snapshot knows every peer's address.
 */
import { Members } from './members.js';

export async function* snapshotPayload(encodedMembers: Buffer, stateMachine: AsyncIterable<Buffer>): AsyncIterable<Buffer> {
  const header = Buffer.alloc(4);
  header.writeUInt32BE(encodedMembers.length);
  yield header;
  yield encodedMembers;
  yield* stateMachine;
}

export function decodeSnapshotPayload(data: Buffer): { members: Members; stateMachineData: Buffer } {
  const length = data.readUInt32BE(0);
  return { members: Members.decode(data.subarray(4, 4 + length)), stateMachineData: data.subarray(4 + length) };
}
