// Seeds a formatted cluster with a chat state of many messages, written straight into each
// replica's data directory, as if the cluster had run that long and taken a snapshot.
//
// Why not send them? The bench does that first (the start-up section), and reports how far it
// got. But loading a million messages through today's cluster on a shared 2-core machine takes
// longer than a benchmark can wait, and has stalled in view-change storms once the state passed
// a few hundred thousand messages (docs/performance.md). The start-up and memory figures at
// 1,000,000 are about what a replica does with such a state on disk, so here it is put there
// directly: a snapshot in the real format (lib/chat/snapshot.ts, checked on load by decodeState),
// written by the real store (lib/storage/replica-store.ts), plus a view record.
//
// Every replica gets the same snapshot — the same state at the same op, as after a cluster
// snapshotted everywhere — and view 1 as both view and log view: replica 1 restarts as the
// primary of its log view and so moves the cluster to view 2 (disk rule D4, docs/architecture.md), as any restart does.

import { copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ClusterConfig } from '../../lib/server/config.js';
import { SNAPSHOT_FORMAT, type ChatSnapshot, type MailboxColumns } from '../../lib/chat/snapshot.js';
import { ReplicaStore } from '../../lib/storage/replica-store.js';
import { snapshotFileName } from '../../lib/storage/data-dir.js';
import type { Snapshot } from '../../lib/replication/types.js';

export const SEED_VIEW = 1;
/** Accounts holding the seeded messages: enough that no mailbox passes MAILBOX_MESSAGES_MAX
 *  (10,000) at a million messages. Names that no load worker uses. */
const SEED_ACCOUNTS = 256;

/** The chat state: SEED_ACCOUNTS accounts, `messages` messages of `textBytes` bytes, unread. */
export function seedState(messages: number, textBytes: number): ChatSnapshot {
  const names = Array.from({ length: SEED_ACCOUNTS }, (_, i) => `seed${String(i).padStart(5, '0')}`);
  const text = 'x'.repeat(textBytes);
  const mailboxes: MailboxColumns[] = names.map(() => ({ ids: [], from: [], at: [], text: [], unread: [] }));
  for (let id = 1; id <= messages; id++) {
    const box = mailboxes[id % SEED_ACCOUNTS]!;
    box.ids.push(id);
    box.from.push(names[(id * 7) % SEED_ACCOUNTS]!);
    box.at.push(1_700_000_000_000 + id);
    box.text.push(text);
    box.unread.push(true);
  }
  // Verifiers only need the right shape here: nobody logs in as a seeded account.
  const verifier = { salt: 'c2VlZHNlZWRzZWVkc2VlZA==', iterations: 4096, storedKey: 'A'.repeat(43) + '=', serverKey: 'A'.repeat(43) + '=' };
  return {
    format: SNAPSHOT_FORMAT,
    lastOp: messages + SEED_ACCOUNTS,
    nextMessageId: messages + 1,
    accounts: names.map((name, i) => [name, verifier, [], mailboxes[i]!]),
    tombstones: [],
    loginFailures: [],
  };
}

/** Writes the seeded snapshot and view record into every (formatted, empty) replica directory. */
export async function seedCluster(config: ClusterConfig, messages: number, textBytes: number): Promise<void> {
  const machine = seedState(messages, textBytes);
  // Ops: one per account created and one per message sent, as if they had gone through the log.
  const snapshot: Snapshot<unknown> = { op: machine.lastOp, view: SEED_VIEW, clientTable: {}, machine };
  const [first, ...others] = config.replicas;
  await writeJournal(first!.data, config.cluster, first!.id, snapshot);
  for (const replica of others) {
    await writeJournal(replica.data, config.cluster, replica.id, null);
    // The snapshot file holds nothing replica-specific: the same bytes serve every replica, and
    // copying them is much quicker than encoding the state four more times.
    const name = snapshotFileName(snapshot.op);
    await copyFile(join(first!.data, name), join(replica.data, name));
  }
}

/** Persists the view record, and the snapshot if given, through the replica's own store. */
async function writeJournal(dir: string, cluster: string, replica: number, snapshot: Snapshot<unknown> | null): Promise<void> {
  let durable = 0;
  let failure: Error | null = null;
  const { store } = await ReplicaStore.open<unknown, unknown>(dir, { cluster, replica }, {
    onDurable: (seq) => (durable = seq),
    onFailure: (error) => (failure = error),
  });
  let seq = 0;
  if (snapshot) store.persist(++seq, { kind: 'snapshot', snapshot, coveredByLog: false });
  store.persist(++seq, { kind: 'view', view: SEED_VIEW, logView: SEED_VIEW, damaged: false });
  await store.close();
  if (failure !== null) throw failure;
  if (durable !== seq) throw new Error(`seeding ${dir}: ${durable} of ${seq} records durable`);
}
