/** ConfState values as the stores keep them: copied in and out, never shared. */
import type { ConfState } from '@cairn/proto';

export function emptyConfState(): ConfState {
  return { voters: [], learners: [], votersOutgoing: [] };
}

export function copyConfState(confState: ConfState): ConfState {
  return { voters: [...confState.voters], learners: [...confState.learners], votersOutgoing: [...confState.votersOutgoing] };
}

/** Whether `inFile` lists every voter and learner of `current`. */
export function listsEveryMember(inFile: ConfState, current: ConfState): boolean {
  const listed = (id: number): boolean => inFile.voters.includes(id) || inFile.learners.includes(id);
  return current.voters.every(listed) && current.learners.every(listed);
}
