/**
 * The cluster's members and their addresses. Raft's ConfState says who votes;
 * the addresses travel in the conf-change entry's context (an encoded Member),
 * so every node learns them from the replicated log, and snapshots carry them.
 */
import { type ConfState, Member } from '@cairn/proto';

export class Members {
  private readonly byId = new Map<number, Member>();

  static fromList(list: readonly Member[]): Members {
    const members = new Members();
    for (const m of list) members.set(m);
    return members;
  }

  set(member: Member): void {
    // HTTP addresses are learned from peers at run time, not replicated:
    // a replicated record without one keeps what this node already knows.
    const httpAddress = member.httpAddress || this.byId.get(member.id)?.httpAddress || '';
    this.byId.set(member.id, { ...member, httpAddress });
  }

  replaceWith(other: Members): void {
    const known = new Map([...this.byId].map(([id, m]) => [id, m.httpAddress]));
    this.byId.clear();
    for (const m of other.list()) this.set({ ...m, httpAddress: m.httpAddress || known.get(m.id) || '' });
  }

  delete(id: number): void {
    this.byId.delete(id);
  }

  get(id: number): Member | undefined {
    return this.byId.get(id);
  }

  has(id: number): boolean {
    return this.byId.has(id);
  }

  get size(): number {
    return this.byId.size;
  }

  list(): Member[] {
    return [...this.byId.values()].sort((a, b) => a.id - b.id);
  }

  /** Marks voters and learners from raft's view; drops members raft no longer knows. */
  syncWith(confState: ConfState): void {
    const voters = new Set(confState.voters);
    const learners = new Set(confState.learners);
    for (const [id, member] of this.byId) {
      if (voters.has(id)) member.learner = false;
      else if (learners.has(id)) member.learner = true;
      else this.byId.delete(id);
    }
  }

  encode(): Buffer {
    return Buffer.from(JSON.stringify(this.list()));
  }

  static decode(bytes: Uint8Array): Members {
    const list = JSON.parse(Buffer.from(bytes).toString('utf8')) as unknown;
    if (!Array.isArray(list)) throw new Error('members: expected a list');
    return Members.fromList(list.map((m) => Member.fromPartial(m as Member)));
  }
}
