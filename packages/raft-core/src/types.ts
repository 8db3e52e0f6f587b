/**
 * Core value types. Terms, log indexes and node ids are plain numbers on the
 * wire (uint64 decoded by ts-proto, which rejects values above 2^53 - 1);
 * inside raft-core terms and node ids are branded so one cannot be passed as
 * the other.
 */
export type Term = number & { readonly __brand: 'Term' };
export type NodeId = number & { readonly __brand: 'NodeId' };

/** The id meaning "no node" (no vote, no known leader). */
export const NO_NODE = 0 as NodeId;

export type Role = 'follower' | 'pre-candidate' | 'candidate' | 'leader';

/** Why a proposal was not accepted. Expected outcomes are results, not exceptions. */
export type ProposeRejection =
  | 'no-leader'
  | 'not-leader'
  | 'transfer-in-progress'
  | 'too-many-uncommitted'
  | 'conf-change-pending'
  /** proposeConfChange() got a malformed change, or one that would leave no voters. */
  | 'invalid-conf-change'
  /**
   * The change would leave half the voters or more recovering from lost
   * storage (docs/disk-loss.md): no leader could be elected, nor they caught up.
   */
  | 'conf-change-unsafe';

export type ProposeResult = { ok: true } | { ok: false; reason: ProposeRejection };
