// Who leads and how many make a majority: the arithmetic every sub-protocol shares (VRR §3, §4).

import assert from 'node:assert/strict';
import type { ReplicaId } from './types.js';

/** The primary of view v is replica v mod N (VRR §4): every replica computes it alike, so a view
 *  number alone names its leader and no election is needed. */
export function primaryOf(view: number, replicaCount: number): ReplicaId {
  return view % replicaCount;
}

/** f, the number of crashed replicas N = 2f + 1 tolerates. */
export function faultsTolerated(replicaCount: number): number {
  assert.equal(replicaCount % 2, 1, 'replicaCount must be odd (N = 2f + 1)');
  return (replicaCount - 1) / 2;
}

/** f + 1: any two sets this large share a replica, which is what carries a fact across views. */
export function quorumSize(replicaCount: number): number {
  return faultsTolerated(replicaCount) + 1;
}

/** The highest op that at least `quorum` of `held` reach, where `held` lists, per replica, the
 *  highest op it holds durably (0 for none): the op a primary may commit (VRR §4.1 step 4). */
export function quorumOp(held: readonly number[], quorum: number): number {
  assert.ok(quorum >= 1);
  const descending = [...held].sort((a, b) => b - a);
  return descending[quorum - 1] ?? 0;
}
