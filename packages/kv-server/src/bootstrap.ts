/**
 * A data dir at startup: bootstrapped if new, and what it held before raft
 * ran (for the lost-disk check).
 */
import { ConfChange, ConfChangeType, type Entry, EntryType, Member } from '@cairn/proto';
import type { NodeOptions } from './config.js';
import type { Logger } from './logger.js';
import type { StartupState } from './lost-disk-check.js';
import type { NodeStorage } from './storage/ports.js';

type BootstrapStorage = Pick<NodeStorage, 'initialState' | 'lastIndex' | 'members' | 'saveMembership' | 'write'>;

/**
 * A fresh data dir of an initial member gets the genesis configuration as
 * committed conf-change entries 1..N (etcd's Bootstrap), not just a stored
 * ConfState: a node that joins later replays the log from index 1 and so
 * learns every original voter and its address, instead of starting from an
 * empty configuration in which it would count itself as the only voter.
 * Every initial member writes the same entries, because they are built from
 * the same sorted member list.
 * Returns whether the data dir was empty (bootstrapped now, or left empty to join).
 */
export async function bootstrapIfNew(options: NodeOptions, storage: BootstrapStorage, self: Member, logger: Logger): Promise<boolean> {
  const { confState } = storage.initialState();
  const isNew = confState.voters.length === 0 && confState.learners.length === 0 && storage.lastIndex() === 0;
  if (!isNew) {
    const mine = storage.members().find((m) => m.id === options.id);
    if (mine !== undefined && mine.peerAddress !== self.peerAddress)
      logger.warn('address-changed', { was: mine.peerAddress, now: self.peerAddress });
    return false;
  }
  if (options.join) {
    logger.info('joining', { note: 'waiting to be added with kvctl member add' });
    return true;
  }
  const members: Member[] = [
    self,
    ...options.peers.map((p) => ({ id: p.id, peerAddress: p.address, clientAddress: p.address, httpAddress: '', learner: false })),
  ]
    .map((m) => ({ ...m, httpAddress: '' }))
    .sort((a, b) => a.id - b.id);
  const entries: Entry[] = members.map((member, i) => ({
    term: 1,
    index: i + 1,
    type: EntryType.CONF_CHANGE,
    data: Buffer.from(
      ConfChange.encode({
        type: ConfChangeType.ADD_NODE,
        nodeId: member.id,
        context: Buffer.from(Member.encode(member).finish()),
      }).finish(),
    ),
  }));
  await storage.write({ entries, hardState: { term: 1, vote: 0, commit: entries.length }, snapshot: undefined }, { sync: true });
  const voters = members.map((m) => m.id);
  await storage.saveMembership({ voters, learners: [], votersOutgoing: [] }, members);
  logger.info('bootstrapped', { voters });
  return true;
}

/** What the data dir held when the node started (before raft ran), for the lost-disk check. */
export function startupState(storage: Pick<NodeStorage, 'initialState' | 'lastIndex' | 'term' | 'snapshotIndex'>): StartupState {
  const { hardState } = storage.initialState();
  const lastIndex = storage.lastIndex();
  // Only the bootstrap entries (term 1), no vote, no snapshot: nothing of the cluster's life, however often restarted.
  const atGenesis =
    hardState.term <= 1 && hardState.vote === 0 && storage.snapshotIndex() === 0 && (lastIndex === 0 || storage.term(lastIndex) <= 1);
  return { term: hardState.term, lastIndex, atGenesis };
}
