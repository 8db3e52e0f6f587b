/**
 * gRPC ClusterService: status, membership (learner → promote → remove),
 * leader transfer, manual snapshot, and chaos fault injection (only with --chaos).
 */
import { type ClusterServiceServer, ConfChangeType, FaultKind, Member, type MembersResponse, type StatusResponse } from '@cairn/proto';
import type { ClusterIdentity } from '../cluster-identity.js';
import { address as parseAddress } from '../config.js';
import { FailedPreconditionError, InvalidArgumentError, TimeoutError, UnknownMemberError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { NodeLoop } from '../loop/node-loop.js';
import type { RaftTransport } from '../transport/raft-transport.js';
import type { KvReader } from '../state-machine/ports.js';
import type { FaultInjector } from '../transport/faults.js';
import { unary } from './grpc-errors.js';

/** A learner is promoted only when its log is this close to the leader's commit index. */
export const PROMOTE_LAG_ENTRIES_MAX = 100;
const TRANSFER_WAIT_MS = 5000;

export interface StatusSource {
  loop: NodeLoop<RaftTransport>;
  reader: KvReader;
  /** Named by /status and by the headers of every answer. */
  cluster: ClusterIdentity;
  startedAtMs: number;
  version: string;
  /** ok | checking | recovering: see lost-disk-check.ts. */
  storageState?: () => string;
}

export async function buildStatus(source: StatusSource): Promise<StatusResponse> {
  const { loop } = source;
  const status = loop.status();
  return {
    id: loop.options.id,
    clusterId: source.cluster.wireId,
    role: status.role,
    term: status.term,
    leaderId: status.leaderId,
    commitIndex: status.commitIndex,
    appliedIndex: loop.applied,
    lastIndex: status.lastIndex,
    snapshotIndex: loop.lastSnapshotIndex,
    members: loop.members.list(),
    progress: [...(status.progress ?? new Map()).entries()].map(([id, p]) => ({
      id,
      matchIndex: p.matchIndex,
      nextIndex: p.nextIndex,
      state: p.state,
      recentActive: p.recentActive,
    })),
    keys: (await source.reader.keyCount?.()) ?? 0,
    version: source.version,
    uptimeMs: Date.now() - source.startedAtMs,
    storage: source.storageState?.() ?? 'ok',
  };
}

/** `faults`: the transport's fault injector, with --chaos only; without it InjectFault is refused. */
export function clusterService(source: StatusSource, faults: FaultInjector | undefined, logger: Logger): ClusterServiceServer {
  const { loop, cluster } = source;
  const membersResponse = (): MembersResponse => ({ members: loop.members.list(), leaderId: loop.currentLeaderId });
  const requireLeader = (): void => {
    if (!loop.isLeader) throw loop.notLeader();
  };
  return {
    status: unary(() => buildStatus(source), logger, cluster),
    members: unary(async () => membersResponse(), logger, cluster),
    addLearner: unary(
      async (request) => {
        requireLeader();
        const member = request.member;
        if (member === undefined || !Number.isSafeInteger(member.id) || member.id <= 0)
          throw new InvalidArgumentError('member.id must be a positive integer');
        if (loop.members.has(member.id)) throw new FailedPreconditionError(`node ${member.id} is already a member`);
        for (const [field, value] of [
          ['peer_address', member.peerAddress],
          ['client_address', member.clientAddress],
        ] as const) {
          try {
            parseAddress(field, value);
          } catch {
            throw new InvalidArgumentError(`member.${field}: expected HOST:PORT, got '${value}'`);
          }
        }
        const context = Buffer.from(Member.encode({ ...member, learner: true }).finish());
        await loop.proposeConfChange({ type: ConfChangeType.ADD_LEARNER_NODE, nodeId: member.id, context });
        return membersResponse();
      },
      logger,
      cluster,
    ),
    promote: unary(
      async (request) => {
        requireLeader();
        const member = loop.members.get(request.id);
        if (member === undefined) throw new UnknownMemberError(request.id);
        if (!member.learner) throw new FailedPreconditionError(`node ${request.id} is already a voter`);
        const status = loop.status();
        const progress = status.progress?.get(request.id as never);
        if (progress === undefined || progress.matchIndex === 0 || progress.matchIndex + PROMOTE_LAG_ENTRIES_MAX < status.commitIndex) {
          throw new FailedPreconditionError(
            `learner ${request.id} has not caught up yet (match ${progress?.matchIndex ?? 0}, commit ${status.commitIndex}); retry shortly`,
          );
        }
        const context = Buffer.from(Member.encode({ ...member, learner: false }).finish());
        await loop.proposeConfChange({ type: ConfChangeType.ADD_NODE, nodeId: request.id, context });
        return membersResponse();
      },
      logger,
      cluster,
    ),
    removeMember: unary(
      async (request) => {
        requireLeader();
        if (
          !loop.members.has(request.id) &&
          !loop.membership.voters.includes(request.id) &&
          !loop.membership.learners.includes(request.id)
        ) {
          throw new UnknownMemberError(request.id);
        }
        if (loop.membership.voters.length === 1 && loop.membership.voters[0] === request.id) {
          throw new FailedPreconditionError('cannot remove the last voter');
        }
        await loop.proposeConfChange({ type: ConfChangeType.REMOVE_NODE, nodeId: request.id, context: Buffer.alloc(0) });
        return membersResponse();
      },
      logger,
      cluster,
    ),
    transferLeader: unary(
      async (request) => {
        if (loop.currentLeaderId === request.targetId) return { leaderId: request.targetId };
        loop.transferLeader(request.targetId);
        const deadline = Date.now() + TRANSFER_WAIT_MS;
        while (Date.now() < deadline) {
          await new Promise((resolve) => setTimeout(resolve, 20));
          if (loop.currentLeaderId === request.targetId) return { leaderId: request.targetId };
        }
        throw new TimeoutError(`leadership did not move to node ${request.targetId} in time`);
      },
      logger,
      cluster,
    ),
    snapshot: unary(async () => loop.snapshotNow(), logger, cluster),
    injectFault: unary(
      async (request) => {
        if (faults === undefined) throw new FailedPreconditionError('fault injection is off; start the node with --chaos');
        if (request.kind === FaultKind.CLEAR) {
          faults.clear();
          return {};
        }
        if (!(request.dropRate >= 0 && request.dropRate <= 1)) throw new InvalidArgumentError('drop_rate must be within [0, 1]');
        const kind =
          request.kind === FaultKind.DROP
            ? 'drop'
            : request.kind === FaultKind.DELAY
              ? 'delay'
              : request.kind === FaultKind.PARTITION
                ? 'partition'
                : undefined;
        if (kind === undefined) throw new InvalidArgumentError('unknown fault kind');
        faults.add({
          kind,
          peers: request.peers,
          dropRate: request.dropRate,
          delayMs: request.delayMs,
          untilMs: request.durationMs > 0 ? Date.now() + request.durationMs : undefined,
        });
        logger.warn('fault-injected', {
          kind,
          peers: request.peers,
          dropRate: request.dropRate,
          delayMs: request.delayMs,
          durationMs: request.durationMs,
        });
        return {};
      },
      logger,
      cluster,
    ),
  };
}
