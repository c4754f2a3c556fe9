// How journal records become bytes and come back. JSON throughout, so a journal can be read
// with any text tool; the framing's CRC vouches for the bytes, and the light shape checks here
// turn "valid checksum but not what we write" (a bug, or a foreign file) into CORRUPT rather
// than a TypeError somewhere in recover().
//
// A group-commit batch is one segment record whose payload is a JSON array of log records:
//   [{"kind":"entries","entries":[...]},{"kind":"replace","after":7,"entries":[...]}]
// Each log record is stringified once, when it is persisted (the cost is per record, i.e. per
// PREPARE batch, never per entry), and the batch is assembled from those strings into one
// buffer with no further copies of the text.

import assert from 'node:assert/strict';
import type { JournalRecord, LoadedJournal, Snapshot } from '../replication/types.js';
import { corruptError } from './errors.js';
import { RECORD_BYTES_MAX } from './records.js';

export type LogRecord<C, R> = LoadedJournal<C, R>['log'][number];

export type ViewRecord = Extract<JournalRecord<unknown, unknown>, { kind: 'view' }>;

/** The largest single log record, encoded: it must fit in a batch of one ("[" + record + "]"). */
const LOG_RECORD_BYTES_MAX = RECORD_BYTES_MAX - 2;

/** A log record ready to be batched: its JSON text, that text's UTF-8 size, and the highest op
 *  it mentions (what compaction needs to know, see maxOpOf). */
export interface EncodedLogRecord {
  text: string;
  bytes: number;
  maxOp: number;
}

export function encodeLogRecord<C, R>(record: LogRecord<C, R>): EncodedLogRecord {
  const text = JSON.stringify(record);
  const bytes = Buffer.byteLength(text);
  // A record the journal cannot hold is a bug upstream (the core must bound what it persists).
  assert.ok(bytes <= LOG_RECORD_BYTES_MAX, `journal record of ${bytes} bytes exceeds LOG_RECORD_BYTES_MAX (${LOG_RECORD_BYTES_MAX})`);
  return { text, bytes, maxOp: maxOpOf(record) };
}

/** Bytes of the batch payload holding records of these sizes: brackets plus commas. */
export function batchBytes(recordBytes: number, records: number): number {
  return recordBytes + (records - 1) + 2;
}

/** The payload of one group-commit batch. `bytes` is batchBytes() of the records. */
export function encodeBatch(records: readonly EncodedLogRecord[], bytes: number): Buffer {
  const payload = Buffer.allocUnsafe(bytes);
  let at = payload.write('[', 0);
  for (const [index, record] of records.entries()) {
    if (index > 0) at += payload.write(',', at);
    at += payload.write(record.text, at);
  }
  at += payload.write(']', at);
  assert.equal(at, bytes, 'batch payload size');
  return payload;
}

/** The log records of one batch payload. `where` names the file and offset for errors. */
export function decodeBatch<C, R>(payload: Buffer, where: { file: string; offset: number }): LogRecord<C, R>[] {
  const parsed = parseJson(payload, where.file, where.offset);
  if (!Array.isArray(parsed) || parsed.length === 0) throw corruptError(where.file, where.offset, 'batch is not a non-empty array');
  for (const record of parsed) {
    if (!isLogRecord(record)) throw corruptError(where.file, where.offset, 'batch holds something that is not an entries or replace record');
  }
  return parsed as LogRecord<C, R>[];
}

/** The highest op a log record mentions: its entries' ops and, for 'replace', `after`. Once a
 *  snapshot covers that op the record says nothing about the log beyond the snapshot (a replace
 *  that drops ops above `after` can only drop ops written before it, in this or older segments,
 *  which compaction deletes only together with it). */
export function maxOpOf(record: LogRecord<unknown, unknown>): number {
  let max = record.kind === 'replace' ? record.after : 0;
  for (const entry of record.entries) if (entry.op > max) max = entry.op;
  return max;
}

function isLogRecord(value: unknown): value is LogRecord<unknown, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const record = value as { kind?: unknown; after?: unknown; entries?: unknown };
  if (record.kind !== 'entries' && !(record.kind === 'replace' && Number.isSafeInteger(record.after))) return false;
  return Array.isArray(record.entries) && record.entries.every((entry: { op?: unknown } | null) => Number.isSafeInteger(entry?.op));
}

export function decodeView(payload: Buffer, file: string): ViewRecord {
  const parsed = parseJson(payload, file, null) as { view?: unknown; logView?: unknown; damaged?: unknown } | null;
  const { view, logView, damaged } = parsed ?? {};
  if (!isCount(view) || !isCount(logView) || typeof damaged !== 'boolean') throw corruptError(file, null, 'not a {view, logView, damaged} record');
  return { kind: 'view', view, logView, damaged };
}

export function decodeSnapshot<R>(payload: Buffer, file: string, op: number): Snapshot<R> {
  const parsed = parseJson(payload, file, null) as Partial<Snapshot<R>> | null;
  if (parsed === null || typeof parsed !== 'object' || !isCount(parsed.op) || !isCount(parsed.view)) {
    throw corruptError(file, null, 'not a snapshot');
  }
  if (typeof parsed.clientTable !== 'object' || parsed.clientTable === null || !('machine' in parsed)) {
    throw corruptError(file, null, 'snapshot lacks its client table or machine state');
  }
  if (parsed.op !== op) throw corruptError(file, null, `snapshot holds op ${parsed.op}, its name says ${op}`);
  return parsed as Snapshot<R>;
}

export function parseJson(payload: Buffer, file: string, offset: number | null): unknown {
  try {
    return JSON.parse(payload.toString('utf8'));
  } catch (error) {
    if (error instanceof SyntaxError) throw corruptError(file, offset, `checksum matches but the content is not JSON (${error.message})`);
    throw error;
  }
}

function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}
