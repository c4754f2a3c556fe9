// The catalogue of protocol mutants: each one a single small edit that breaks one rule of the
// replication protocol or of the disk (docs/architecture.md), with the rule it breaks and what
// goes wrong without it. A test suite that no mutant survives is one that can fail; a mutant
// that survives shows a rule nothing checks. `make mutants` (run.ts) plants each in a scratch
// copy of the tree and runs the unit tests and the simulator against it; docs/testing.md,
// "Mutants: proof that the checks can fail", explains how to read the results.
//
// For a learner the catalogue answers "why is this rule here?": read `why`, then the line that
// `find` names. test/repository/mutants.test.ts checks on every `make test` that each `find`
// still occurs exactly once in its file, so the catalogue follows the code as it changes.

export interface Mutant {
  /** Short, kebab-case, unique. */
  id: string;
  /** The repository path of the file to edit. */
  file: string;
  /** Text that occurs exactly once in that file... */
  find: string;
  /** ...and what it becomes. */
  replace: string;
  /** What the edit breaks: a VRR section ("VRR §4.1 step 3") or a disk rule ("disk rule D2,
   *  docs/architecture.md"). */
  rule: string;
  /** For a learner: what goes wrong when the rule is broken. */
  why: string;
  /** Only for a mutant that cannot change behaviour: the argument, in writing. The runner still
   *  plants it, and a kill proves the argument wrong. */
  equivalent?: string;
}

/** Bugs that survived an earlier hand-planted round (300 seeds at 5 and at 3 replicas, plus the
 *  unit tests): the reason this catalogue exists. */
const SURVIVORS_OF_THE_FIRST_ROUND: Mutant[] = [
  {
    id: 'prepare-ok-from-older-view',
    file: 'lib/replication/normal.ts',
    find: "if (m.view !== s.view) return s.ignore('prepare-ok', m.view < s.view ? 'older view' : 'newer view', { from: m.from });",
    replace: "if (m.view > s.view) return s.ignore('prepare-ok', 'newer view', { from: m.from });",
    rule: 'VRR §4.1 step 4: a primary counts PREPARE-OKs of its own view only',
    why:
      'A PREPARE-OK says "I hold your log of this view up to op". One left over from an older view in which ' +
      'this replica was primary too speaks of an older log, whose suffix a view change may have replaced: counting ' +
      'it can commit an op that fewer than f + 1 replicas hold.',
  },
  {
    id: 'do-view-change-before-durable',
    file: 'lib/replication/view-change.ts',
    find: '  if (vc.startViewChangeFrom.size < s.f || !s.disk.everythingDurable()) return;\n  assert.ok(s.viewDurable());',
    replace: '  if (vc.startViewChangeFrom.size < s.f) return;',
    rule: 'disk rules D2 and D3, docs/architecture.md; VRR §4.2 step 2',
    why:
      'DO-VIEW-CHANGE promises "I accept nothing more from the old view" and reports the log on disk. Sent before ' +
      'the view record and the log are durable, a crash makes the replica forget the promise (it restarts in the ' +
      'old view and may acknowledge its PREPAREs) or report a log that its disk does not hold.',
  },
  {
    id: 'primary-counts-undurable-copy',
    file: 'lib/replication/normal.ts',
    find: 'const op = quorumOp([Math.min(s.disk.op, s.log.op), ...p.acks.values()], s.quorum);',
    replace: 'const op = quorumOp([s.log.op, ...p.acks.values()], s.quorum);',
    rule: 'disk rule D1, docs/architecture.md; VRR §4.1 step 4',
    why:
      'The primary sends PREPARE before its own fsync ends. Counting its own copy at once, it can commit and ' +
      'answer an op that only f disks hold; if it then crashes before its fsync, the next view change may not see ' +
      'the op, and an answered request is lost.',
  },
];

/** One (or more) per disk rule: where storage, or the core's durability bookkeeping, keeps it. */
const DISK_RULES: Mutant[] = [
  {
    id: 'd1-append-without-fdatasync',
    file: 'lib/storage/segment-log.ts',
    find: '      await io(`fdatasync ${name}`, this.file.datasync());\n      this.bytes += frame.length;',
    replace: '      this.bytes += frame.length;',
    rule: 'disk rule D1, docs/architecture.md: persist before you acknowledge',
    why:
      'The store reports a batch durable when the append returns. Without the fdatasync the bytes may still be in ' +
      'the page cache, so the replica acknowledges entries that a power loss erases.',
  },
  {
    id: 'd1-directory-synced-before-rename',
    file: 'lib/storage/atomic-file.ts',
    find: '  for (const { file } of files) await io(`rename ${path.basename(file)}${TEMP_SUFFIX}`, fs.rename(`${file}${TEMP_SUFFIX}`, file));\n  await syncDirectory(fs, dir);',
    replace: '  await syncDirectory(fs, dir);\n  for (const { file } of files) await io(`rename ${path.basename(file)}${TEMP_SUFFIX}`, fs.rename(`${file}${TEMP_SUFFIX}`, file));',
    rule: 'disk rule D1, docs/architecture.md: a renamed file is durable only once its directory is synced',
    why:
      'A rename lives in the directory, not in the file. Synced before the rename, the directory does not hold ' +
      'it yet, and a power loss can undo it: the view file (or a snapshot) is back to its old content although ' +
      'the replica already acted on the new one.',
  },
  {
    id: 'd1-replace-counted-durable-at-once',
    file: 'lib/replication/durability.ts',
    find: '    this.op = Math.min(this.op, after);\n',
    replace: '',
    rule: 'disk rules D1 and D3, docs/architecture.md: an entry is never dropped before what replaces it is durable',
    why:
      'A replace record drops the entries above `after`; until it is on disk, the disk still holds the old ones. ' +
      'Counting the new entries durable at once lets the replica acknowledge, or count toward a commit, entries ' +
      'that a crash turns back into the old ones.',
  },
  {
    id: 'd2-prepare-ok-before-view-durable',
    file: 'lib/replication/normal.ts',
    find: 'if (b === null || !s.viewDurable()) return;',
    replace: 'if (b === null) return;',
    rule: 'disk rule D2, docs/architecture.md: persist the view before acting in it',
    why:
      'A backup that acknowledges ops of a new view before its record of that view is on disk can crash and come ' +
      'back with its old log view. Its log then ranks below every log of the new view in the next view change, ' +
      'even one that lacks the ops this backup helped to commit.',
  },
  {
    id: 'd3-view-record-before-log',
    file: 'lib/replication/view-change.ts',
    find: '  s.replaceLog(s.commit, entries);\n  becomeBackup(s); // D3: the log record above goes first, then the view record.',
    replace: '  becomeBackup(s);\n  s.replaceLog(s.commit, entries);',
    rule: 'disk rule D3, docs/architecture.md: the log view never runs ahead of its log',
    why:
      'The log view on disk is a claim: "I hold the log this view started with". Written before that log, a crash ' +
      'between the two leaves the old log under the new log view, and a view change, which prefers the highest ' +
      'log view, may choose it over a log that holds committed ops.',
  },
  {
    id: 'd3-received-snapshot-covered-by-log',
    file: 'lib/replication/state-transfer.ts',
    find: "s.persist({ kind: 'snapshot', snapshot, coveredByLog: false });",
    replace: "s.persist({ kind: 'snapshot', snapshot, coveredByLog: true });",
    rule: 'disk rule D3, docs/architecture.md: never drop before the replacement is durable',
    why:
      'A snapshot received by state transfer covers ops this journal never held. Marked as covered by the log, ' +
      'storage may count it durable before its file is written; a crash then leaves the log after it standing on ' +
      'nothing, and the replica cannot rebuild the ops in between.',
  },
  {
    id: 'd4-replica-behind-resumes-as-backup',
    file: 'lib/replication/replica.ts',
    find: 'else if (s.logView === s.view) becomeBackup(s);',
    replace: 'else if (s.logView <= s.view) becomeBackup(s);',
    rule: 'disk rule D4, docs/architecture.md: a replica whose log view is below its view rejoins that view change',
    why:
      'A replica that restarts in the middle of a view change holds an older log than its view. Resuming as a ' +
      'backup, it takes the view as its log view without that view\'s log, and appends the new primary\'s ' +
      'PREPAREs to a log that may differ below them.',
  },
  {
    id: 'd5-restart-executes-whole-log',
    file: 'lib/replication/state.ts',
    find: 'this.commit = fields.log.base;',
    replace: 'this.commit = fields.log.op;',
    rule: 'disk rule D5, docs/architecture.md: execute only the committed prefix',
    why:
      'After a restart only the snapshot is known committed; the log after it may end in ops that the next view ' +
      'change replaces. Executing them at start-up applies requests that never happen, and cannot be undone.',
  },
  {
    id: 'd6-damage-cut-as-torn-tail',
    file: 'lib/storage/segment-log.ts',
    find: "if (later === 0 && (reason === 'torn-header' || reason === 'torn-body')) return",
    replace: "if (later === 0 && (reason === 'torn-header' || reason === 'torn-body' || reason === 'checksum')) return",
    rule: 'disk rule D6, docs/architecture.md: only the record a crash was writing is a torn tail; other damage is recorded',
    why:
      'A crash can only leave the file ending inside the newest record. A whole record whose checksum fails may ' +
      'be one the replica synced and acknowledged: cutting it as a torn tail silently drops it, and the replica ' +
      'then votes in view changes with a log missing committed ops instead of opening as damaged.',
  },
  {
    id: 'd7-empty-directory-is-new-replica',
    file: 'lib/storage/data-dir.ts',
    find: "if (names.length === 0) throw notFormatted(dir, 'is empty');",
    replace: 'if (names.length === 0) return names;',
    rule: 'disk rule D7, docs/architecture.md: no data directory, no replica',
    why:
      'A replica whose disk was lost, or whose path was mistyped, would start with view 0 and an empty log, and ' +
      'could vote away ops it had acknowledged before.',
  },
];

/** VRR §4.1, one per step: admission, the client table, append, acknowledge, commit, COMMIT, execute. */
const NORMAL_OPERATION: Mutant[] = [
  {
    id: 'admit-malformed-request',
    file: 'lib/replication/normal.ts',
    find: 'if (!wellFormed || (requestNumber === 0) !== (request.command === null)) {',
    replace: 'if (!wellFormed) {',
    rule: 'VRR §4.1 step 1: a request is admitted only if well formed',
    why:
      'Request 0 registers a client and carries no command; every later request carries one. The gateway\'s codec ' +
      'refuses a mix-up, but the core checks whatever a driver hands it: admitted, a request numbered 1 or more ' +
      'with no command executes as a second register of a known client, which throws on every replica.',
  },
  {
    id: 'stale-request-admitted',
    file: 'lib/replication/client-table.ts',
    find: "if (requestNumber < latest) return { action: 'reject', code: 'STALE_REQUEST' };",
    replace: '',
    rule: 'VRR §4.1 step 2: the client table refuses a request older than the latest',
    why:
      'A late duplicate of an old request (a network copy, a slow retry) must never run again. Without the check ' +
      'it enters the log behind the newer one and is executed a second time.',
  },
  {
    id: 'backup-appends-across-gap',
    file: 'lib/replication/normal.ts',
    find: 'if (first > s.log.op + 1) {',
    replace: 'if (first > s.log.op + 2) {',
    rule: 'VRR §4.1 step 3: a backup takes op n only once it holds every op before it',
    why:
      'A backup missing one op before a PREPARE must fetch it before going on. Taking the PREPARE as if it ' +
      'followed its log, it neither appends it (the entries do not fit) nor asks for the op it lacks, and waits ' +
      'for the primary\'s heartbeat to resend what it lacks.',
  },
  {
    id: 'prepare-ok-before-durable',
    file: 'lib/replication/normal.ts',
    find: 'const op = Math.min(s.disk.op, s.log.op);',
    replace: 'const op = s.log.op;',
    rule: 'VRR §4.1 step 3 with disk rule D1: PREPARE-OK only for what is on disk',
    why:
      'PREPARE-OK means "I hold this durably". Sent from memory, a commit can rest on copies that a power loss ' +
      'erases, and an answered op is lost.',
  },
  {
    id: 'commit-on-f-copies',
    file: 'lib/replication/normal.ts',
    find: 'const op = quorumOp([Math.min(s.disk.op, s.log.op), ...p.acks.values()], s.quorum);',
    replace: 'const op = quorumOp([Math.min(s.disk.op, s.log.op), ...p.acks.values()], s.f);',
    rule: 'VRR §4.1 step 4: commit once f + 1 replicas hold the op',
    why:
      'f + 1 is the smallest set that every later view change, hearing from f + 1 replicas, is sure to meet. An op ' +
      'held by only f replicas can be missed by the next view change and lost after its client was answered.',
  },
  {
    id: 'no-commit-heartbeat',
    file: 'lib/replication/normal.ts',
    find: "  s.broadcast({ type: 'commit', view: s.view, from: s.id, commit: s.commit }, commitTo);\n",
    replace: '',
    rule: 'VRR §4.1 step 5: an idle primary sends COMMIT',
    why:
      'With nothing to prepare, COMMIT is how backups learn the commit number and hear that the primary lives. ' +
      'Without it they do not execute the last ops, and time out into a view change on a healthy primary.',
  },
  {
    id: 'execute-beyond-own-log',
    file: 'lib/replication/execute.ts',
    find: 'const reachable = Math.min(commit, s.log.op);',
    replace: 'const reachable = commit;',
    rule: 'VRR §4.1 step 6: a backup executes an op only once it holds it and every op before it',
    why:
      'A backup may learn a commit number beyond the end of its log. Taking it as its own commit number, it claims ' +
      'to have committed, and goes on to execute, ops it does not hold.',
  },
];

/** VRR §4.2: who may start a view change, how many logs the new primary hears, which log wins,
 *  how a backup installs it, and what the new primary may count as committed. */
const VIEW_CHANGE: Mutant[] = [
  {
    id: 'join-view-change-on-one-ask',
    file: 'lib/replication/view-change.ts',
    find: 'return views[s.f] ?? null; // 2: the (f + 1)-th highest, if f + 1 asked',
    replace: 'return views[0] ?? null;',
    rule: 'VRR §4.2 step 1, with the f + 1 rule of docs/architecture.md "View change" step 1',
    why:
      'Joining a view change on a single START-VIEW-CHANGE, as VRR does, lets one slow or cut-off replica drag a ' +
      'working cluster through one view change after another.',
  },
  {
    id: 'do-view-change-without-start-view-changes',
    file: 'lib/replication/view-change.ts',
    find: 'if (vc.startViewChangeFrom.size < s.f || !s.disk.everythingDurable()) return;',
    replace: 'if (!s.disk.everythingDurable()) return;',
    rule: 'VRR §4.2 step 2: DO-VIEW-CHANGE only after f START-VIEW-CHANGEs from others',
    why:
      'A replica that timed out alone would send DO-VIEW-CHANGE at once, and its DO-VIEW-CHANGE moves the next ' +
      'primary into the view change: one lone replica could again disrupt a cluster whose primary works.',
  },
  {
    id: 'new-view-on-f-logs',
    file: 'lib/replication/view-change.ts',
    find: 'if (!vc.doViewChanges.has(s.id) || vc.doViewChanges.size < s.quorum) return;',
    replace: 'if (!vc.doViewChanges.has(s.id) || vc.doViewChanges.size < s.f) return;',
    rule: 'VRR §4.2 step 3: the new primary waits for f + 1 DO-VIEW-CHANGEs',
    why:
      'Only f + 1 logs are sure to include one from every set of f + 1 replicas that committed an op. Choosing ' +
      'among fewer, the new primary can start its view with a log that lacks a committed op.',
  },
  {
    id: 'choose-longest-log',
    file: 'lib/replication/view-change.ts',
    find: 'a.logView !== b.logView ? a.logView > b.logView : a.op !== b.op ? a.op > b.op : a.from < b.from;',
    replace: 'a.op !== b.op ? a.op > b.op : a.logView !== b.logView ? a.logView > b.logView : a.from < b.from;',
    rule: "VRR §4.2 step 3: the log with the largest v′ wins, then the largest n",
    why:
      'A long log from an older view can hold ops that a later view change discarded; a shorter log of a newer ' +
      'view holds every op committed before that view. Choosing by length brings discarded ops back in place of ' +
      'committed ones.',
  },
  {
    id: 'start-view-keeps-longer-log',
    file: 'lib/replication/view-change.ts',
    find: '  s.view = m.view;\n  s.replaceLog(s.commit, entries);',
    replace: '  s.view = m.view;\n  if (m.op >= s.log.op) s.replaceLog(s.commit, entries);',
    rule: 'VRR §4.2 step 4: START-VIEW replaces the log above the commit number',
    why:
      'START-VIEW carries the log of the new view. A backup that keeps its own longer log keeps ops of an older ' +
      'view that the view change discarded, under the new log view: the same op number then names different ' +
      'requests on different replicas.',
  },
  {
    id: 'new-primary-commits-chosen-log',
    file: 'lib/replication/view-change.ts',
    find: 'const commit = Math.max(...received.map((m) => m.commit));',
    replace: 'const commit = chosen.op;',
    rule: 'VRR §4.2 step 3: after a view change, commit only what a replica reported committed',
    why:
      'The chosen log may end in ops that were never committed; they commit in the new view once f + 1 replicas ' +
      'acknowledge them there. A new primary that executes and answers them at once, before anyone else holds ' +
      'its log, can lose them to the next view change after the client was told.',
  },
];

/** VRR §5.2 and the catch-up rules of lib/replication/state-transfer.ts. */
const STATE_TRANSFER: Mutant[] = [
  {
    id: 'catch-up-on-partial-log',
    file: 'lib/replication/state-transfer.ts',
    find: 'if (end < m.startOp) return requestState(s);',
    replace: 'if (end < s.log.op && end < m.op) return requestState(s);',
    rule: 'VRR §5.2, §8.1: take the new log view only with the log the view started with (test/sim/FINDINGS.md F3)',
    why:
      'Taking the new log view claims "I hold the log this view started with, so every op committed before it". ' +
      'A replica that installs only the first piece of that log can win the next view change with a log that ' +
      'lacks committed ops (the core before the fix of F3).',
  },
  {
    id: 'repair-takes-answer-to-older-request',
    file: 'lib/replication/state-transfer.ts',
    find: "  if (m.after !== s.log.op) return s.ignore('new-state', 'answers an older request', { after: m.after, op: s.log.op });\n",
    replace: '',
    rule: 'VRR §5.2: a backup repairing a gap appends only the piece that continues its log',
    why:
      'GET-STATE is resent, and the network duplicates and delays: a NEW-STATE can answer a question asked before ' +
      'the backup\'s log grew. Its entries then start below the end of the log: appended, they would give two ' +
      'entries one op number (the log asserts against it, so the replica stops instead).',
  },
  {
    id: 'catch-up-timer-not-reset-by-pieces',
    file: 'lib/replication/state-transfer.ts',
    find: '  const t = s.transfer!;\n  t.primaryTimeout.reset();',
    replace: '  const t = s.transfer!;',
    rule: 'VRR §5.2, with step 4 of docs/architecture.md "State transfer": every piece is word from the primary',
    why:
      'A replica catching up hears little else from the primary while pieces of a large log or snapshot arrive. ' +
      'If they do not count as word from it, the replica times out in the middle of the transfer and asks for a ' +
      'new view, and the next primary is asked for the same state again.',
  },
];

/** The client table's owner rule (VRR §4; docs/architecture.md, "Client table and exactly-once"). */
const CLIENT_OWNERSHIP: Mutant[] = [
  {
    id: 'not-owner-unchecked-at-admission',
    file: 'lib/replication/client-table.ts',
    find: "if (row !== undefined && row.owner !== owner) return { action: 'reject', code: 'NOT_OWNER' };",
    replace: '',
    rule: 'VRR §4 client table: a client id belongs to the owner that registered it (NOT_OWNER at admission)',
    why:
      'Anyone who knows a client id — the REPL prints it, the journal holds it — would get the saved reply of its ' +
      'latest request, and learn which of its request numbers are stale.',
  },
  {
    id: 'not-owner-unchecked-at-execution',
    file: 'lib/replication/execute.ts',
    find: "if (row !== undefined && row.owner !== owner) return { refused: 'NOT_OWNER' };",
    replace: '',
    rule: 'VRR §4 client table: execution checks the owner again, in log order (NOT_OWNER)',
    why:
      'A deposed primary\'s stale table can admit another owner\'s request. Execution, the same on every replica, ' +
      'is the check that holds: without it a command under a stolen id runs, and another owner\'s register of a ' +
      'taken id throws on every replica.',
  },
];

/** The heartbeat rules the simulator found missing (test/sim/FINDINGS.md F4 and F5). */
const HEARTBEAT_FINDINGS: Mutant[] = [
  {
    id: 'f4-no-ack-again-on-low-commit',
    file: 'lib/replication/normal.ts',
    find: '  const b = s.backup!;\n  if (m.commit < b.ackedOp) b.ackedOp = m.commit;\n',
    replace: '',
    rule: 'VRR §4.1 step 5: a COMMIT below what a backup acknowledged makes it acknowledge again (test/sim/FINDINGS.md F4)',
    why:
      'After START-VIEW a backup sends one PREPARE-OK; if it is lost, a COMMIT below what the backup acknowledged ' +
      'is its cue to send it again. Before that rule the last ops of a view change never committed. Since F5, the ' +
      'heartbeat\'s resend to a stalled backup heals the same loss one heartbeat later.',
  },
  {
    id: 'f5-silent-backup-never-resent',
    file: 'lib/replication/normal.ts',
    find: 'const from = Math.max(acked ?? s.commit, s.log.base);',
    replace: 'const from = Math.max(acked ?? s.log.op, s.log.base);',
    rule: 'VRR §4.1 step 5: the heartbeat resends entries to a backup that acknowledged nothing in this view (test/sim/FINDINGS.md F5)',
    why:
      'A backup whose every acknowledgement in this view was lost looks, to a primary that counts only ' +
      'acknowledgements, like one with nothing missing: it is sent COMMIT forever, and ops that need its ' +
      'acknowledgement never commit.',
  },
];

/** Storage repair (docs/storage.md): telling a torn write from rot, the two view copies, and the
 *  rule that a damaged replica votes in nothing until a primary's log has repaired it. */
const STORAGE_REPAIR: Mutant[] = [
  {
    id: 'record-header-unchecked',
    file: 'lib/storage/records.ts',
    find: "  if (crc32(checked) !== buffer.readUInt32BE(offset + CHECKED_HEADER_BYTES)) return { kind: 'bad', offset, reason: 'bad-header' };",
    replace: "  if (checked.length !== CHECKED_HEADER_BYTES) return { kind: 'bad', offset, reason: 'bad-header' };",
    rule: 'disk rule D6, docs/architecture.md: only the record a crash was writing is a torn tail',
    why:
      'Without its own checksum a header is believed: rot that makes the length field larger makes a whole, ' +
      'synced record look as if the file ended inside it — a torn write — and it is cut silently, acknowledged ' +
      'ops with it.',
  },
  {
    id: 'damage-cut-before-it-is-recorded',
    file: 'lib/storage/replica-store.ts',
    find:
      '  journal.view = await recordDamage(fs, dir, view, operatorLog, { file, offset, reason, dropped });\n' +
      '  return { journal, segmentLog: await opened.cut(), segmentMaxOp, snapshotFiles };',
    replace:
      '  const segmentLog = await opened.cut();\n' +
      '  journal.view = await recordDamage(fs, dir, view, operatorLog, { file, offset, reason, dropped });\n' +
      '  return { journal, segmentLog, segmentMaxOp, snapshotFiles };',
    rule: 'disk rule D6, docs/architecture.md: the damage is on disk before anything is cut',
    why:
      'Cut first, and a crash between the cut and the damaged view record leaves a log that reads clean: the ' +
      'next start calls the replica whole, and it votes with a log that lacks what it acknowledged.',
  },
  {
    id: 'view-record-forgets-damage',
    file: 'lib/storage/view-record.ts',
    find: '  return JSON.stringify({ view: record.view, logView: record.logView, damaged: record.damaged });',
    replace: '  return JSON.stringify({ view: record.view, logView: record.logView, damaged: false });',
    rule: 'disk rule D6, docs/architecture.md: a damaged replica stays damaged across restarts until repaired',
    why:
      'The damage is recorded in the view record before the log is cut. Written without it, the next start finds ' +
      'a cut log that reads clean and a view record that says whole: the replica votes with a log that lacks what ' +
      'it acknowledged.',
  },
  {
    id: 'view-record-one-copy',
    file: 'lib/storage/view-record.ts',
    find: '  await writeFilesAtomic(fs, VIEW_FILES.map((name) => ({ file: path.join(dir, name), chunks: [text] })));',
    replace: '  await writeFilesAtomic(fs, [{ file: path.join(dir, VIEW_FILES[0]), chunks: [text] }]);',
    rule: 'disk rule D2, docs/architecture.md: the view a replica promised survives rot of one copy',
    why:
      'With one copy, rot in it leaves the replica unable to know which views it promised to leave: it must ' +
      'refuse to start, and an operator must act, although the second copy would have told it.',
  },
  {
    id: 'damaged-replica-resumes-whole',
    file: 'lib/replication/replica.ts',
    find: 'if (s.damaged) rejoinDamaged(s);',
    replace: 'if (s.damaged && s.replicaCount < 0) rejoinDamaged(s);',
    rule: 'VRR §4.3 and §8.1: a replica that may have lost what it acknowledged votes in nothing until repaired',
    why:
      'Resuming as if whole, the replica reports its cut log in the next view change. If it was one of exactly ' +
      'f + 1 replicas that held a committed op, the f + 1 votes of that view change may hold the op nowhere else, ' +
      'and the new view drops it.',
  },
  {
    id: 'damaged-replica-joins-view-change',
    file: 'lib/replication/view-change.ts',
    find: "    if (s.damaged) return s.ignore('start-view-change', 'damaged: votes in no view change', { from: m.from, messageView: m.view });\n",
    replace: '',
    rule: 'VRR §4.3 and §8.1: a damaged replica sends no DO-VIEW-CHANGE',
    why:
      'Joining a view change it would send DO-VIEW-CHANGE with a log that may lack committed ops it acknowledged: ' +
      'the very vote the rule exists to stop.',
  },
  {
    id: 'repair-before-target',
    file: 'lib/replication/state-transfer.ts',
    find: '  if (end < (t.repairTarget ?? 0)) return requestState(s);\n',
    replace: '',
    rule: 'VRR §5.2 and §8.1: a damaged replica is repaired only by a log that holds all it may have acknowledged',
    why:
      'In its own view the replica may have acknowledged ops after the view began. A log taken only as far as ' +
      "the view's start op can lack them, and the replica would vote again without them.",
  },
  {
    id: 'repair-not-made-durable',
    file: 'lib/replication/durability.ts',
    find: 'return a.view === b.view && a.logView === b.logView && a.damaged === b.damaged;',
    replace: 'return a.view === b.view && a.logView === b.logView;',
    rule: 'disk rules D2 and D3, docs/architecture.md: the repaired log, then the view record saying so',
    why:
      'A repair in the same view changes neither view nor log view: if only those are compared, the record ' +
      'saying "no longer damaged" is never written, the replica acknowledges while its disk still says damaged, ' +
      'and a restart finds it damaged again.',
  },
];

const F11_HEARTBEAT: Mutant = {
  id: 'f11-no-resend-below-snapshot',
  file: 'lib/replication/normal.ts',
  find: 'const from = Math.max(acked ?? s.commit, s.log.base);\n    const stalled = from < s.log.op && p.acksAtHeartbeat.get(backup) === acked;',
  replace: 'const from = acked ?? s.commit;\n    const stalled = from < s.log.op && from >= s.log.base && p.acksAtHeartbeat.get(backup) === acked;',
  rule: 'VRR §4.1 step 5: the heartbeat resends lost PREPAREs to a stalled backup, even one behind the snapshot (test/sim/FINDINGS.md F11)',
  why:
    'A backup whose PREPARE-OKs were lost until the primary folded its log past them is sent only COMMITs that ' +
    'match what it holds: it never learns of the PREPAREs it missed, and ops that need its acknowledgement wait ' +
    'forever.',
};

/** The view-change timing rule the simulator found missing (test/sim/FINDINGS.md F8 and F10). */
const VIEW_CHANGE_TIMING: Mutant[] = [
  {
    id: 'f10-view-change-timer-from-entry',
    file: 'lib/replication/view-change.ts',
    find: '  vc.viewChangeTimeout.reset(); // Our part is done; the new primary gets the whole timeout (scenario 6).\n',
    replace: '',
    rule: 'VRR §4.2 step 2 (liveness): a view change times out counted from our DO-VIEW-CHANGE (test/sim/FINDINGS.md F8, F10)',
    why:
      'Counted from when the replica entered the view, the time it waited alone, or its own slow disk took, is ' +
      'charged to the new primary: it gives up moments before START-VIEW arrives, climbs past the view the others ' +
      'complete, and ignores it; a view later the same happens again.',
  },
];

/** Check-quorum (lib/replication/normal.ts; docs/architecture.md, view change step 10): a
 *  primary that hears no majority of its view steps down. */
const CHECK_QUORUM: Mutant[] = [
  {
    id: 'check-quorum-never-steps-down',
    file: 'lib/replication/normal.ts',
    find: '  if (!p.startViewSent || s.f === 0 || !p.quorumTimeout.tick()) return;',
    replace: '  if (!p.startViewSent || s.f >= 0 || !p.quorumTimeout.tick()) return;',
    rule: 'VRR §4.2 step 1 (liveness): a primary that has heard from fewer than f others of its view for a view-change timeout starts a view change (check-quorum)',
    why:
      'A primary cut off from the others commits nothing, yet stays in status normal in its view for ever: its ' +
      'clients stay connected and are answered from stale state, and in a partition where its backups still hear ' +
      'it but it hears none of them, no backup ever times out and the view never moves.',
  },
  {
    id: 'check-quorum-counts-any-view',
    file: 'lib/replication/normal.ts',
    find: "  if (m.view !== s.view) return s.ignore('alive', m.view < s.view ? 'older view' : 'newer view', { from: m.from });\n",
    replace: '',
    rule: 'VRR §4 (every message carries its view): check-quorum counts only replicas in the primary\'s own view',
    why:
      'An ALIVE of an older view comes from a replica still loyal to a primary it has left behind, or one held up ' +
      'in the network; counting it keeps a primary serving that has no majority in its view — the partition the ' +
      'rule exists to end.',
  },
  {
    id: 'check-quorum-ignores-catching-up',
    file: 'lib/replication/normal.ts',
    find: '  if ((s.backup === null && s.transfer === null) || primary === s.id) return;',
    replace: '  if (s.backup === null || primary === s.id) return;',
    rule: 'VRR §5.2 with check-quorum: a replica catching up by state transfer is in the primary\'s view and counts',
    why:
      'With N = 3, one replica dead and the other fetching a snapshot that takes seconds, the primary hears no ' +
      'PREPARE-OK and steps down, throwing the transfer away; the next primary starts it again and steps down in ' +
      'turn: a livelock, one view change per timeout.',
  },
];

/** Edits that cannot change behaviour, with the argument. They show how a survivor that is not a
 *  gap in the tests is recorded, and the runner proves each argument wrong if anything kills it. */
const EQUIVALENT: Mutant[] = [
  {
    id: 'durable-report-repeated',
    file: 'lib/replication/durability.ts',
    find: 'if (seq <= this.durable) return [];',
    replace: 'if (seq < this.durable) return [];',
    rule: 'disk rule D1, docs/architecture.md: durability is reported in order (driver duty 2)',
    why: 'A report of a seq already known durable must change nothing.',
    equivalent:
      'Only a repeated report of exactly `durable` now gets past the early return, and it finds nothing to do: ' +
      'every view record, log mark and snapshot still pending was issued by next() after `durable` reached its ' +
      'value, so its seq is above it, and the loops take none; `durable` is set to the value it has, and the ' +
      'empty list returned is the one the early return gave.',
  },
];

export const MUTANTS: readonly Mutant[] = [
  ...SURVIVORS_OF_THE_FIRST_ROUND,
  ...DISK_RULES,
  ...NORMAL_OPERATION,
  ...VIEW_CHANGE,
  ...STATE_TRANSFER,
  ...CLIENT_OWNERSHIP,
  ...HEARTBEAT_FINDINGS,
  F11_HEARTBEAT,
  ...STORAGE_REPAIR,
  ...VIEW_CHANGE_TIMING,
  ...CHECK_QUORUM,
  ...EQUIVALENT,
];
