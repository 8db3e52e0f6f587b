/**
 * The node's stable records (hashicorp StableStore): raft's hard state (term,
 * vote, commit and the disk-loss fence: recovering, flaggedTerm), the conf
 * state in force and the members' addresses. Each is one checksummed record
 * in the node's LevelDB, mirrored in memory; a mirror moves when its staged
 * write has landed.
 */
import { ConfState, encodeToBuffer, HardState, Member } from '@cairn/proto';
import { decodeProto, decodeRecord, RECORD_HEADER_BYTES } from './codec.js';
import { copyConfState, emptyConfState } from './conf-state.js';
import { type BatchOp, NodeDatabase } from './database.js';
import { CONF_STATE_KEY, HARD_STATE_KEY, memberKey, PREFIX, prefixRange } from './keys.js';
import type { StagedWrite } from './staged-write.js';

export class HardStateStore {
  private hardState: HardState;
  /**
   * The mirrored hard state differs from the stored one only in its commit
   * index: that change rides along with the next write instead of costing a
   * LevelDB write of its own (see keepCommitOnly()).
   */
  private unwritten = false;
  private currentConfState: ConfState;
  private memberMap: Map<number, Member>;

  private constructor(hardState: HardState, confState: ConfState, members: Map<number, Member>) {
    this.hardState = hardState;
    this.currentConfState = confState;
    this.memberMap = members;
  }

  /** Reads and verifies the hard state, conf state and member records (CorruptionError if damaged). */
  static async load(database: NodeDatabase): Promise<HardStateStore> {
    const dataDir = database.dataDir;
    const hardStatePayload = await database.getRecord(HARD_STATE_KEY, 'hard state');
    const hardState = hardStatePayload
      ? withoutAbsentFields(decodeProto(HardState, hardStatePayload, dataDir, 'hard state'))
      : { term: 0, vote: 0, commit: 0 };
    const confStatePayload = await database.getRecord(CONF_STATE_KEY, 'conf state');
    const confState = confStatePayload ? decodeProto(ConfState, confStatePayload, dataDir, 'conf state') : emptyConfState();
    const members = new Map<number, Member>();
    for await (const [key, value] of database.db.iterator(prefixRange(Buffer.of(PREFIX.member)))) {
      const what = `member record ${key.toString('hex')}`;
      const member = decodeProto(Member, decodeRecord(key, value, { dataDir, what }), dataDir, what);
      members.set(member.id, member);
    }
    return new HardStateStore(hardState, confState, members);
  }

  /** A copy of the hard state, including a commit index not yet written. */
  current(): HardState {
    return { ...this.hardState };
  }

  commitIndex(): number {
    return this.hardState.commit;
  }

  /** A copy of the membership in force (last saved conf change or snapshot). */
  confState(): ConfState {
    return copyConfState(this.currentConfState);
  }

  /** The membership in force, not copied: read it, never keep or change it. */
  confStateView(): Readonly<ConfState> {
    return this.currentConfState;
  }

  /** Member addresses, sorted by id. */
  members(): Member[] {
    return [...this.memberMap.values()].sort((a, b) => a.id - b.id);
  }

  // ---- writes ----

  /**
   * Takes `hardState` into memory without writing it when it moves only the
   * commit index; false (nothing changed) when term or vote differ. The commit
   * index needs no durability: a restarted node relearns it from the leader,
   * and raft-core raises it to the state machine's applied index on start.
   * Writing it cost every node a LevelDB write per commit, which traces
   * showed delaying the next append behind the disk, as etcd's buffered WAL
   * never does.
   */
  keepCommitOnly(hardState: HardState): boolean {
    if (hardState.term !== this.hardState.term || hardState.vote !== this.hardState.vote) return false;
    this.hardState = { ...hardState };
    this.unwritten = true;
    return true;
  }

  /** Writes `hardState`, or else the one kept unwritten; undefined when there is nothing to write. */
  stage(hardStateIn: HardState | undefined): StagedWrite | undefined {
    if (hardStateIn === undefined && !this.unwritten) return undefined;
    const hardState = { ...(hardStateIn ?? this.hardState) };
    return {
      ops: [NodeDatabase.putSealed(HARD_STATE_KEY, encodeToBuffer(HardState, hardState, RECORD_HEADER_BYTES))],
      onWritten: () => {
        // A commit-only update that arrived meanwhile is newer: keep it (unwritten).
        const current = this.hardState;
        if (current.term === hardState.term && current.vote === hardState.vote && current.commit > hardState.commit) return;
        this.hardState = hardState;
        this.unwritten = false;
      },
    };
  }

  /** Replaces the conf state and member addresses. */
  stageMembership(confStateIn: ConfState, membersIn: readonly Member[]): StagedWrite {
    const confState = copyConfState(confStateIn);
    const memberMap = new Map(membersIn.map((member) => [member.id, { ...member }]));
    const ops: BatchOp[] = [NodeDatabase.putRecord(CONF_STATE_KEY, ConfState.encode(confState).finish())];
    for (const id of this.memberMap.keys()) {
      if (!memberMap.has(id)) ops.push({ type: 'del', key: memberKey(id) });
    }
    for (const member of memberMap.values()) {
      ops.push(NodeDatabase.putRecord(memberKey(member.id), Member.encode(member).finish()));
    }
    return {
      ops,
      onWritten: () => {
        this.currentConfState = confState;
        this.memberMap = memberMap;
      },
    };
  }

  /** Replaces the conf state alone (a snapshot from the leader; the member addresses follow in its data). */
  stageConfState(confStateIn: ConfState): StagedWrite {
    const confState = copyConfState(confStateIn);
    return {
      ops: [NodeDatabase.putRecord(CONF_STATE_KEY, ConfState.encode(confState).finish())],
      onWritten: () => {
        this.currentConfState = confState;
      },
    };
  }
}

/** The decoder sets absent optional fields to undefined; raft-core leaves them out (a healthy node's hard state has none). */
function withoutAbsentFields(decoded: HardState): HardState {
  const hardState: HardState = { term: decoded.term, vote: decoded.vote, commit: decoded.commit };
  if (decoded.recovering !== undefined) hardState.recovering = decoded.recovering;
  if (decoded.flaggedTerm !== undefined) hardState.flaggedTerm = decoded.flaggedTerm;
  return hardState;
}
