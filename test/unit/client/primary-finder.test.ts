// The primary-finding policy on its own: every input, every verdict, every wait. Deterministic:
// the random numbers are a list the test chooses.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ASK_AGAIN_MS, PrimaryFinder, type FinderOptions } from '../../../lib/client/primary-finder.js';
import { PROTOCOL_VERSION, type Announcement, type HelloResult } from '../../../lib/protocol/messages.js';

const A = 'a:1';
const B = 'b:2';
const C = 'c:3';
const D = 'd:4';
const ABC = [A, B, C];

/** A finder whose random() returns `draws` in turn (then 0.5); base 10 ms, max 1 s, park 2 s. */
function finder(seeds: string[], draws: number[] = [], options: Partial<FinderOptions> = {}): PrimaryFinder {
  const random = (): number => draws.shift() ?? 0.5;
  return new PrimaryFinder({ seeds, backoffBaseMs: 10, backoffMaxMs: 1_000, parkMs: 2_000, random, ...options });
}

/** replica's hello in `view`, naming `primary` (address from ABC, or null). */
function hello(replica: number, view: number, primary: number, options: { address?: string | null; members?: string[]; primaryView?: number } = {}): HelloResult {
  const address = options.address === undefined ? (ABC[primary] ?? null) : options.address;
  return { version: PROTOCOL_VERSION, replica, view, primary: { replica: primary, view: options.primaryView ?? view, address }, members: options.members ?? ABC };
}

function announcement(primary: number, view: number, members = ABC): Announcement {
  return { type: 'primary', primary: { replica: primary, view, address: ABC[primary]! }, members };
}

/** The addresses of `count` dials at the given pace, waits ignored. */
function dials(f: PrimaryFinder, count: number): string[] {
  return Array.from({ length: count }, () => f.next('urgent').address);
}

test('seeds only: a round tries each address once, in random order, before any again', () => {
  // Draws pick index floor(draw × untried): C of [A, B, C], then A of [A, B], then B.
  const f = finder(ABC, [0.9, 0.1, 0.1, 0.0, 0.0, 0.0]);
  assert.deepEqual(dials(f, 3), [C, A, B]);
  assert.deepEqual(dials(f, 3), [A, B, C], 'a new round');
  assert.deepEqual(f.knownAddresses(), ABC);
  assert.deepEqual(f.unreachableAddresses(), []);
});

test('seeds: none, or one that is not an address, is refused by name', () => {
  assert.throws(() => finder([]), /at least one server address/);
  assert.throws(() => finder([A, 'nope']), /bad server address 'nope'/);
});

test('members: a hello teaches the cluster, seeds stay as a fallback, addresses we cannot dial are left out', () => {
  const f = finder(['seed:9']);
  assert.equal(f.next('urgent').address, 'seed:9');
  f.greeted('seed:9', hello(0, 4, 0, { members: [A, B, 'not an address', A] }));
  assert.deepEqual(f.knownAddresses(), [A, B, 'seed:9']);
});

test('members: a newer list replaces the last; one from an older view is ignored', () => {
  const f = finder([A]);
  f.learnMembers([A, B, C], 3);
  f.learnMembers([A, B], 2); // late news from a replica behind
  assert.deepEqual(f.knownAddresses(), [A, B, C]);
  f.learnMembers([B, C, D], 5); // a change of membership
  assert.deepEqual(f.knownAddresses(), [B, C, D, A]);
  f.greeted(B, hello(1, 4, 1, { members: [B], address: B })); // a hello from view 4: older
  assert.deepEqual(f.knownAddresses(), [B, C, D, A]);
  f.announced({ replica: 1 }, announcement(2, 6, [C, D]));
  assert.deepEqual(f.knownAddresses(), [C, D, A]);
});

test('hello: the primary is adopted; a primary of a view older than one known is left as deposed', () => {
  const f = finder(ABC);
  assert.deepEqual(f.greeted(A, hello(0, 5, 0)), { kind: 'adopt', view: 5 });
  const deposed = f.greeted(B, hello(1, 3, 1));
  assert.equal(deposed.kind, 'leave');
  assert.match(deposed.kind === 'leave' ? deposed.why : '', /replica 1 says it is primary of view 3, but view 5 has begun/);
});

test('hints: a fresh one is followed at once by an urgent caller; a stale one is not followed', () => {
  const f = finder(ABC);
  assert.deepEqual(f.greeted(A, hello(0, 2, 1)), { kind: 'follow', address: B });
  assert.deepEqual(f.next('urgent'), { address: B, waitMs: 0 });
  assert.deepEqual(f.greeted(B, hello(1, 2, 1)), { kind: 'adopt', view: 2 });
  const stale = f.greeted(C, hello(2, 1, 0));
  assert.equal(stale.kind, 'leave', 'a replica still in view 1 names a primary that view 2 replaced');
  assert.match(stale.kind === 'leave' ? stale.why : '', /names the primary of view 1, but view 2 has begun/);
});

test('hints: one naming the primary that just failed parks at the backup; so does one without an address', () => {
  const f = finder(ABC);
  f.greeted(A, hello(0, 3, 0));
  f.primaryLost(A, { replica: 0, view: 3 });
  assert.deepEqual(f.unreachableAddresses(), [A]);
  const naming = f.greeted(B, hello(1, 3, 0));
  assert.deepEqual(naming.kind === 'park' ? [naming.ms, naming.askAgain] : naming, [ASK_AGAIN_MS, true], 'a backup in status normal: parks, then asks again');
  assert.match(naming.kind === 'park' ? naming.why : '', /replica 1 names replica 0 as the primary of view 3/);
  const viewChange = f.greeted(C, hello(2, 4, 1, { address: null }));
  assert.deepEqual(viewChange.kind === 'park' ? [viewChange.ms, viewChange.askAgain] : viewChange, [2_000, false], 'in a view change: parks for parkMs, for its announcement');
  assert.match(viewChange.kind === 'park' ? viewChange.why : '', /replica 2 knows no working primary \(view 4\)/);
  // Matched by replica and view, not only by address: a seed may differ from the configured one.
  assert.equal(f.greeted(C, hello(2, 3, 0, { address: 'elsewhere:7' })).kind, 'park');
});

test('hints: a replica still naming the primary we lost when asked again hears it — back to that primary', () => {
  const f = finder(ABC);
  f.greeted(A, hello(0, 3, 0));
  f.primaryLost(A, { replica: 0, view: 3 }); // our connection died: a timeout, a blip
  assert.equal(f.greeted(B, hello(1, 3, 0)).kind, 'park');
  f.parkExpired();
  assert.deepEqual(f.greeted(B, hello(1, 3, 0), true), { kind: 'follow', address: A }, 'still normal, still naming A: A is alive');
  assert.deepEqual(f.unreachableAddresses(), [], 'A is no longer taken for dead');
  assert.deepEqual(f.next('urgent'), { address: A, waitMs: 0 });
  const g = finder(ABC);
  g.greeted(A, hello(0, 3, 0));
  g.primaryLost(A, { replica: 0, view: 3 });
  g.greeted(B, hello(1, 3, 0));
  const changing = g.greeted(B, hello(1, 4, 1, { address: null }), true);
  assert.deepEqual(changing.kind === 'park' ? changing.askAgain : changing, false, 'in a view change by now: the primary was dead, wait for the announcement');
  assert.deepEqual(g.unreachableAddresses(), [A]);
});

test('hints: one whose address this client cannot use parks for parkMs and is not asked again — the round goes on', () => {
  const f = finder(ABC);
  const verdict = f.greeted(B, hello(1, 3, 0, { address: 'not an address' }));
  assert.deepEqual(verdict.kind === 'park' ? [verdict.ms, verdict.askAgain] : verdict, [2_000, false]);
});

test('announcements: one naming a replica whose dial failed in this search is followed — it has just completed a view change', () => {
  const f = finder(ABC);
  f.greeted(A, hello(0, 3, 0));
  f.primaryLost(A, { replica: 0, view: 3 });
  f.failed(C); // restarting when we dialled it
  const late = f.announced({ replica: 1 }, announcement(0, 3));
  assert.match(late.kind === 'ignore' ? late.why : '', /naming replica 0, which we cannot reach/, 'the primary we lost, in the view we lost it in');
  assert.deepEqual(f.announced({ replica: 1 }, announcement(2, 4)), { kind: 'follow', address: C });
});

test('stale news: a view far ahead that a majority of the members have never reached is forgotten — a lie cannot wedge the client', () => {
  const f = finder(ABC);
  f.greeted(A, hello(0, 3, 0));
  // An impostor at some address: a hint of view 2^40. (A replica names a primary only of a view
  // that has started, and a started view holds f + 1 replicas.)
  assert.deepEqual(f.greeted(D, hello(3, 2 ** 40, 1, { members: ABC })), { kind: 'follow', address: B });
  const first = f.greeted(B, hello(1, 3, 0));
  assert.equal(first.kind, 'leave', 'one member behind the news: it may be the one left behind');
  assert.deepEqual(f.greeted(C, hello(2, 3, 0)), { kind: 'follow', address: A }, 'two of three members in view 3: view 2^40 never started');
  assert.deepEqual(f.greeted(A, hello(0, 3, 0)), { kind: 'adopt', view: 3 });
  const g = finder([A, B, C, D, 'e:5']);
  g.greeted(A, hello(0, 7, 0, { members: [A, B, C, D, 'e:5'], address: A }));
  g.greeted(B, hello(1, 3, 1, { members: [A, B, C, D, 'e:5'], address: B })); // left behind in view 3
  const behind = g.greeted(C, hello(2, 3, 1, { members: [A, B, C, D, 'e:5'], address: B }));
  assert.equal(behind.kind, 'leave', 'two of five behind a real view 7 is a minority cut off: still stale');
});

test('hints: an address that failed since we last had a primary is not followed; one that failed before is', () => {
  const f = finder(ABC);
  f.next('urgent');
  f.failed(A);
  assert.equal(f.greeted(B, hello(1, 0, 0)).kind, 'park', 'A was refused a moment ago');
  f.greeted(C, hello(2, 1, 2)); // a primary is found: that search is over
  assert.deepEqual(f.greeted(B, hello(1, 2, 0)), { kind: 'follow', address: A }, 'a later view names A again');
  assert.deepEqual(f.unreachableAddresses(), [A], 'A is still unreachable until it answers');
  f.greeted(A, hello(0, 2, 0));
  assert.deepEqual(f.unreachableAddresses(), []);
});

test('hints: two replicas pointing at each other do not make us spin — the second hint in a row waits', () => {
  const f = finder(ABC);
  f.greeted(A, hello(0, 2, 1));
  assert.deepEqual(f.next('urgent'), { address: B, waitMs: 0 });
  f.greeted(B, hello(1, 2, 0));
  const second = f.next('urgent');
  assert.equal(second.address, A);
  assert.ok(second.waitMs >= 5 && second.waitMs <= 20, `an urgent caller waits the short pace: ${second.waitMs} ms`);
  f.answered();
  f.greeted(C, hello(2, 2, 0));
  assert.equal(f.next('urgent').waitMs, 0, 'an answer ends the run of hints');
});

test('hints: an address the client cannot dial is waited out, not followed', () => {
  const f = finder(ABC);
  assert.equal(f.greeted(A, hello(0, 2, 1, { address: 'no port' })).kind, 'park');
});

test('NOT_PRIMARY from the primary: a fresh hint is the next dial; a stale one or none sends us round at the short pace', () => {
  const f = finder(ABC, [0.0]);
  f.greeted(A, hello(0, 4, 0));
  f.notPrimary({ replica: 2, view: 5, address: C });
  assert.deepEqual(f.next('urgent'), { address: C, waitMs: 0 });
  f.notPrimary({ replica: 1, view: 3, address: B });
  const round = f.next('urgent');
  assert.equal(round.address, A, 'the stale hint is not followed; the round goes on');
  assert.ok(round.waitMs >= 5 && round.waitMs <= 20, `${round.waitMs} ms`);
  f.notPrimary(null);
  assert.ok(f.next('urgent').waitMs >= 5, 'no hint: on round, after the short wait');
});

test('announcements: one naming the replica parked at adopts it; another is followed; an older view or the lost primary is ignored', () => {
  const f = finder(ABC);
  f.greeted(A, hello(0, 3, 0));
  f.primaryLost(A, { replica: 0, view: 3 });
  assert.deepEqual(f.announced({ replica: 1 }, announcement(0, 3)), { kind: 'ignore', why: 'an announcement naming replica 0, which we cannot reach' });
  assert.deepEqual(f.announced({ replica: 1 }, announcement(2, 4)), { kind: 'follow', address: C });
  assert.deepEqual(f.next('urgent'), { address: C, waitMs: 0 });
  assert.deepEqual(f.announced({ replica: 1 }, announcement(1, 2)), { kind: 'ignore', why: 'an announcement of view 2, but view 4 has begun' });
  assert.deepEqual(f.announced({ replica: 1 }, announcement(1, 5)), { kind: 'adopt', view: 5 });
});

test('announcements: followed at once even after a hint, since they end a view change rather than point elsewhere', () => {
  const f = finder(ABC);
  f.greeted(A, hello(0, 2, 1));
  f.next('urgent');
  assert.deepEqual(f.announced({ replica: 1 }, announcement(2, 3)), { kind: 'follow', address: C });
  assert.deepEqual(f.next('urgent'), { address: C, waitMs: 0 });
});

test('the round after losing the primary starts at once, at a random other replica: idle clients spread over the backups', () => {
  const destinations = [0.0, 0.5, 0.99].map((draw) => {
    const f = finder([A], [draw]);
    f.greeted(A, hello(0, 3, 0, { members: [A, B, C, D] }));
    f.primaryLost(A, { replica: 0, view: 3 });
    return f.next('patient');
  });
  assert.deepEqual(destinations, [
    { address: B, waitMs: 0 },
    { address: C, waitMs: 0 },
    { address: D, waitMs: 0 },
  ]);
});

test('the round: addresses that failed come last; a park that ran out moves on at once', () => {
  const f = finder(ABC, [0.0, 0.0]);
  assert.equal(f.next('urgent').address, A);
  f.failed(A);
  const afterDead = f.next('urgent');
  assert.equal(afterDead.address, B);
  assert.ok(afterDead.waitMs >= 5, `a dead connection is followed by a backoff: ${afterDead.waitMs} ms`);
  f.greeted(B, hello(1, 1, 1, { address: null }));
  f.parkExpired();
  assert.deepEqual(f.next('urgent'), { address: C, waitMs: 0 }, 'the round goes on; the park was the wait');
  f.parkExpired();
  const nextRound = [f.next('urgent'), f.next('urgent'), f.next('urgent')];
  assert.deepEqual(nextRound.map((dial) => dial.address), [C, B, A], 'A, which failed, comes last');
  assert.deepEqual(nextRound.slice(0, 2).map((dial) => dial.waitMs), [0, 0]);
  assert.ok(nextRound[2]!.waitMs >= 5, 'dialling an address that failed backs off');
});

test('all unreachable: the round goes on through them all with the doubling backoff', () => {
  const f = finder(ABC, Array(14).fill(0.999999));
  const waits: number[] = [];
  const seen: string[] = [];
  for (let i = 0; i < 6; i++) {
    const dial = f.next('urgent');
    waits.push(dial.waitMs);
    seen.push(dial.address);
    f.failed(dial.address);
  }
  assert.deepEqual(waits, [0, 10, 20, 40, 80, 160]);
  assert.deepEqual([...new Set(seen.slice(0, 3))].sort(), ABC, 'each address once in a round');
  assert.deepEqual([...new Set(seen.slice(3))].sort(), ABC, 'and again in the next');
  assert.deepEqual(f.unreachableAddresses().sort(), ABC);
  f.answered();
  f.primaryLost(A, { replica: 0, view: 0 });
  assert.equal(f.next('urgent').waitMs, 10, 'even after a loss, a round of dead addresses backs off');
});

test('the pace: a patient follow is spread over 4 × base; a live refusal is short for the urgent, doubling for the patient', () => {
  const f = finder(ABC, [0.25]);
  f.greeted(A, hello(0, 2, 1));
  assert.deepEqual(f.next('patient'), { address: B, waitMs: 10 }, '0.25 × 4 × 10 ms');
  const urgent = finder(ABC, Array(10).fill(0.999999));
  const patient = finder(ABC, Array(10).fill(0.999999));
  assert.deepEqual([1, 2, 3, 4].map(() => urgent.busy('urgent')), [10, 20, 20, 20]);
  assert.deepEqual([1, 2, 3, 4].map(() => patient.busy('patient')), [10, 20, 40, 80]);
  urgent.answered();
  assert.equal(urgent.busy('urgent'), 10, 'an answer starts the waits again');
});

test('a stale hint sends an urgent caller on at the short pace, a patient one at the doubling pace', () => {
  const waits = (pace: 'urgent' | 'patient'): number[] => {
    const f = finder(ABC, Array(10).fill(0.999999));
    f.greeted(A, hello(0, 5, 0));
    return [1, 2, 3, 4].map(() => {
      f.greeted(B, hello(1, 4, 2));
      return f.next(pace).waitMs;
    });
  };
  assert.deepEqual(waits('urgent'), [10, 20, 20, 20]);
  assert.deepEqual(waits('patient'), [10, 20, 40, 80]);
});
