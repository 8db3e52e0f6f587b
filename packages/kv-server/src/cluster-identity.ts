/**
 * The cluster's identity (docs/cluster-identity.md). A cluster id is
 * `NAME/HASH`: NAME is `--cluster-id` (the token, default 'cairn'), HASH the
 * first 16 hex digits of SHA-256 over the name and the sorted ids of the
 * initial voters, as etcd derives its cluster id from the initial members and
 * `--initial-cluster-token`. Addresses are left out on purpose: a node cannot
 * know how its peers spell its address, and with port 0 it learns its own
 * only after binding, so two members could derive different ids.
 *
 * Every initial member derives the same id from its flags alone, before any
 * election, so the very first peer message already carries it. A node added
 * later (`--join`) learns the id from the first leader that contacts it. A data
 * dir written before cluster ids existed has only the name: it keeps the bare
 * name as its id, so an old cluster upgraded node by node still agrees.
 */
import { createHash } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { CLUSTER_ID_HEADER } from '@cairn/proto';
import type { Logger } from './logger.js';
import { ClusterMismatchError } from './errors.js';

/** What the data dir says about its cluster. */
export interface StoredClusterIdentity {
  name: string;
  /** Present when this node bootstrapped the cluster (format of this version). */
  initialVoters: number[] | undefined;
  /**
   * The id: derived from the initial voters, learned from the cluster by a
   * joined node, the bare name for a data dir from before derived ids, or
   * undefined while a joined node still awaits it.
   */
  clusterId: string | undefined;
}

/** `/` never occurs in a name (config.ts), so a derived id is told apart from a legacy bare name. */
const ID_SEPARATOR = '/';
const HASH_HEX_DIGITS = 16;

/** The cluster id of a cluster bootstrapped as `name` with these initial voters. */
export function deriveClusterId(name: string, initialVoters: readonly number[]): string {
  const voters = sortedVoters(initialVoters);
  const hash = createHash('sha256')
    .update(`cairn-cluster-id\n${name}\n${voters.join(',')}`)
    .digest('hex');
  return `${name}${ID_SEPARATOR}${hash.slice(0, HASH_HEX_DIGITS)}`;
}

/** The name part of a cluster id (the whole id for a legacy one). */
export function clusterNameOf(clusterId: string): string {
  const separator = clusterId.indexOf(ID_SEPARATOR);
  return separator === -1 ? clusterId : clusterId.slice(0, separator);
}

export function isDerivedClusterId(clusterId: string): boolean {
  return clusterId.includes(ID_SEPARATOR);
}

export function sortedVoters(voters: readonly number[]): number[] {
  return [...new Set(voters)].sort((a, b) => a - b);
}

/** `{1,2,3}`, as error messages name a member set. */
export function describeVoters(voters: readonly number[] | undefined): string {
  return voters === undefined ? '{unknown}' : `{${sortedVoters(voters).join(',')}}`;
}

/** A CLUSTER_MISMATCH naming the data dir's cluster and the one the flags describe. */
export function clusterMismatch(
  dataDir: string,
  stored: StoredClusterIdentity,
  flagsName: string,
  flagsVoters: readonly number[] | undefined,
): ClusterMismatchError {
  const voters = flagsVoters === undefined ? undefined : sortedVoters(flagsVoters);
  return new ClusterMismatchError(dataDir, {
    stored: { clusterId: stored.clusterId ?? stored.name, voters: stored.initialVoters },
    flags: { clusterId: voters === undefined ? flagsName : deriveClusterId(flagsName, voters), voters },
  });
}

/**
 * Refuses a data dir whose members are not the ones the flags name (issue 17
 * §3: a node started with its own flags on another cluster's data dir). The
 * flags' members may be the initial voters, or any member the data dir knows
 * now (an operator who lists a node added later): every member the flags name
 * must be one of those. Not checked for --join (the flags name no members) or
 * a data dir that did not bootstrap (a joined node's, or one from before
 * derived ids: it records no initial voters).
 */
export function checkFlagsMembers(
  dataDir: string,
  stored: StoredClusterIdentity,
  flags: { name: string; initialVoters: readonly number[] | undefined },
  currentMembers: readonly number[],
): void {
  if (flags.initialVoters === undefined || stored.initialVoters === undefined) return;
  const known = new Set([...stored.initialVoters, ...currentMembers]);
  if (flags.initialVoters.every((id) => known.has(id))) return;
  throw clusterMismatch(dataDir, stored, flags.name, flags.initialVoters);
}

/**
 * The id this node runs with, and the constant response metadata naming it
 * (built once, not per call: the unary hot path only passes the object).
 */
export class ClusterIdentity {
  private current: string | undefined;
  /** `cairn-cluster-id` response metadata; undefined while the id is unknown. */
  private metadata: grpc.Metadata | undefined;

  /**
   * @param id The known id, or undefined for a joining node that has not
   *   heard from its cluster yet.
   * @param persist Stores an id learned from the cluster (a joining node's).
   */
  constructor(
    readonly name: string,
    id: string | undefined,
    private readonly persist: (id: string) => Promise<void>,
    private readonly logger: Logger,
  ) {
    if (id !== undefined) this.set(id);
  }

  /** The id, or undefined while a joining node waits to learn it. */
  get id(): string | undefined {
    return this.current;
  }

  /** What peer messages carry: the id, or the bare name while it is unknown. */
  get wireId(): string {
    return this.current ?? this.name;
  }

  /** Response metadata naming the cluster (shared: never mutate it), or undefined while unknown. */
  get grpcMetadata(): grpc.Metadata | undefined {
    return this.metadata;
  }

  /**
   * Asked by the transport for a peer message whose cluster id is not this
   * node's. True (and the id is adopted and stored) only for a joining node
   * that does not know its id yet, contacted by a member of a cluster of the
   * same name: the leader that added it.
   */
  adoptFromPeer(peerClusterId: string): boolean {
    if (this.current !== undefined) return false;
    if (!isDerivedClusterId(peerClusterId) || clusterNameOf(peerClusterId) !== this.name) return false;
    this.set(peerClusterId);
    this.logger.info('cluster-id-learned', { clusterId: peerClusterId });
    this.persist(peerClusterId).catch((error: unknown) => this.logger.error('cluster-id-store-failed', { error }));
    return true;
  }

  private set(id: string): void {
    this.current = id;
    const metadata = new grpc.Metadata();
    metadata.set(CLUSTER_ID_HEADER, id);
    this.metadata = metadata;
  }
}
