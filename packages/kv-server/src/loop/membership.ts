/**
 * Who is in the cluster: raft's ConfState (who votes) and the members'
 * addresses. A change arrives as one delta, from a committed conf change or
 * from a leader's snapshot, and is applied to the three places that hold
 * membership together: the member list, the peer transport and storage.
 */
import { assert, ConfChange, ConfChangeType, type ConfState, type Entry, Member } from '@cairn/proto';
import type { Logger } from '../logger.js';
import type { Members } from './members.js';
import type { LoopMembership, NodeEvents, PeerDirectory, StagedWrite } from './ports.js';

/** One membership change, as the three holders apply it. */
export interface MembershipDelta {
  /** The configuration in force after the change (raft's answer to it). */
  readonly confState: ConfState;
  /** A member added or re-addressed, with its addresses. */
  readonly upsert: Member | undefined;
  /** A member removed. */
  readonly removed: number | undefined;
}

/** The delta of a committed conf change; `confState` is raft's configuration after applying it. */
export function confChangeDelta(change: ConfChange, confState: ConfState): MembershipDelta {
  if (change.type === ConfChangeType.REMOVE_NODE) return { confState, upsert: undefined, removed: change.nodeId };
  // No member record: the change moves only raft's configuration.
  if (change.context.length === 0) return { confState, upsert: undefined, removed: undefined };
  const member = Member.decode(change.context);
  assert(member.id === change.nodeId, 'a conf change names the member it carries');
  member.learner = change.type === ConfChangeType.ADD_LEARNER_NODE;
  return { confState, upsert: member, removed: undefined };
}

export interface MembershipOptions {
  readonly selfId: number;
  /** The members storage knows; kept current from here on. */
  readonly members: Members;
  readonly confState: ConfState;
  readonly storage: LoopMembership;
  readonly events: NodeEvents;
  readonly logger: Logger;
}

export class Membership {
  readonly members: Members;
  private current: ConfState;

  constructor(private readonly options: MembershipOptions) {
    this.members = options.members;
    this.current = options.confState;
  }

  get confState(): ConfState {
    return this.current;
  }

  /** A member of the configuration or of the member list; a node that joined empty accepts the first leader of its cluster. */
  isMember(peer: number): boolean {
    return this.members.size === 0 || this.members.has(peer) || this.current.voters.includes(peer) || this.current.learners.includes(peer);
  }

  /** A peer announced its HTTP address (learned at run time, never replicated). */
  noteHttpAddress(peer: number, address: string): void {
    const member = this.members.get(peer);
    if (member !== undefined) member.httpAddress = address;
  }

  /** Points the transport at every known member (at startup). */
  connect(peers: PeerDirectory): void {
    for (const m of this.members.list()) peers.setPeer(m.id, m.peerAddress);
  }

  /**
   * A committed conf-change entry: raft's configuration changes first
   * (`applyToRaft`), then the member list and the transport; returns the
   * storage write to land in the same batch as the entry's apply.
   */
  applyEntry(entry: Entry, applyToRaft: (change: ConfChange) => ConfState, peers: PeerDirectory): StagedWrite {
    const change = ConfChange.decode(entry.data);
    const staged = this.apply(confChangeDelta(change, applyToRaft(change)), peers);
    this.options.events.event('membership-changed', { index: entry.index, change: ConfChangeType[change.type], nodeId: change.nodeId });
    if (change.type === ConfChangeType.REMOVE_NODE && change.nodeId === this.options.selfId)
      this.options.logger.warn('removed-from-cluster', { index: entry.index });
    return staged;
  }

  /**
   * Applies a conf change's delta to the member list and the transport, and
   * returns its storage write, to land in the same batch as the entry's apply:
   * a crash never leaves the membership without the applied index covering it.
   */
  apply(delta: MembershipDelta, peers: PeerDirectory): StagedWrite {
    this.current = delta.confState;
    if (delta.removed !== undefined) {
      this.members.delete(delta.removed);
      peers.removePeer(delta.removed);
    }
    if (delta.upsert !== undefined) {
      this.members.set(delta.upsert);
      peers.setPeer(delta.upsert.id, delta.upsert.peerAddress);
    }
    this.members.syncWith(this.current);
    return this.options.storage.stageMembership(this.current, this.members.list());
  }

  /** A leader's snapshot replaced the state: its membership replaces ours, in the list, the transport and storage. */
  async replace(members: Members, confState: ConfState | undefined, peers: PeerDirectory): Promise<void> {
    this.members.replaceWith(members);
    for (const m of members.list()) peers.setPeer(m.id, m.peerAddress);
    this.current = confState ?? this.current;
    await this.options.storage.saveMembership(this.current, members.list());
  }
}
