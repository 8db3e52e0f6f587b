/**
 * Who leads, as raft's soft state last said: the role of this node and the
 * leader it knows, and the error a request gets on a node that does not lead.
 */
import type { RaftStatus } from '@cairn/raft-core';
import { type KvError, NoLeaderError, NotLeaderError } from '../errors.js';
import type { Members } from './members.js';
import type { NodeEvents } from './ports.js';

export class Leadership {
  private role: RaftStatus['role'] = 'follower';
  private leader = 0;

  constructor(
    private readonly selfId: number,
    private readonly members: Pick<Members, 'get'>,
    private readonly events: NodeEvents,
  ) {}

  get isLeader(): boolean {
    return this.role === 'leader';
  }

  /** The leader this node knows of; 0 for none. */
  get leaderId(): number {
    return this.leader;
  }

  /** NOT_LEADER with the leader's address when this node knows one, else NO_LEADER. */
  notLeader(): KvError {
    if (this.leader === 0 || this.leader === this.selfId) return new NoLeaderError();
    return new NotLeaderError(this.leader, this.members.get(this.leader)?.clientAddress);
  }

  /** raft's soft state changed; returns whether this node just stopped leading. */
  update(role: RaftStatus['role'], leaderId: number, term: number): boolean {
    const wasLeader = this.role === 'leader';
    if (leaderId !== this.leader) this.events.event('leader-changed', { leaderId, term });
    this.role = role;
    this.leader = leaderId;
    return wasLeader && role !== 'leader';
  }
}
