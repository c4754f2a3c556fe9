// The physical floor: what this machine's disk and loopback can do with nothing of Chat+ in the
// way. Every cluster figure is judged against these, measured in the same run, because a number
// from another day (or another machine) says nothing about this one.
//
//   fsync      append a small record (the size of one logged send) and fdatasync it, in the
//              directory the replicas will use: fsync cost belongs to the device and file system
//   group      the same with 100 records per write + fdatasync (what group commit can reach)
//   rtt        one tiny frame to an echo process and back, one at a time
//   stream     frames/s through one socket into a counting process: one write() per frame, and
//              corked (cork, write 1,000 frames, uncork: one writev per batch)
//   process    fork of a tiny Node program until it listens and says so over IPC: the part of
//              a replica's start-up that no change to Chat+ can remove

import { open, mkdtemp, rm } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { nextMessage, type Children } from './children.js';
import { epochMs, round, summarize } from './stats.js';

/** A logged send is about this many bytes with its record header (see test/bench/storage-bench.ts). */
const RECORD_BYTES = 258;
const GROUP_RECORDS = 100;
const STREAM_BODY_BYTES = 200;
const STREAM_BATCH = 1000;

export interface FloorOptions {
  /** A directory on the file system the replicas' data lives on. */
  dir: string;
  fsyncSamples: number;
  rttSamples: number;
  streamMs: number;
}

export interface FloorResult {
  fsync_us: { p50: number; p99: number; mean: number; samples: number };
  group_commit_records_per_s: number;
  rtt_us: { p50: number; p99: number; mean: number; samples: number };
  stream_frames_per_s: { write_per_frame: number; corked: number; body_bytes: number };
  /** fork → a trivial Node process listening and reporting over IPC, median of a few. */
  process_start_ms: number;
  /** One fsync and two loopback round trips (client → primary → backup, and back): the least a
   *  replicated, fsynced send can cost, using the medians. */
  send_floor_us: number;
}

/** The echo and sink peers are forked through `children`, the run's, so that an interrupted run
 *  kills them too. */
export async function measureFloor(children: Children, options: FloorOptions): Promise<FloorResult> {
  const probeDir = await mkdtemp(join(options.dir, 'floor-'));
  try {
    const fsync = await fsyncLatency(probeDir, options.fsyncSamples);
    const group = await groupCommitRate(probeDir, Math.max(500, options.streamMs));
    const rtt = await loopbackRtt(children, options.rttSamples);
    const writePerFrame = await streamRate(children, false, options.streamMs);
    const corked = await streamRate(children, true, options.streamMs);
    const processStart = await processStartMs(children, 5);
    return {
      fsync_us: fsync,
      group_commit_records_per_s: Math.round(group),
      rtt_us: rtt,
      stream_frames_per_s: { write_per_frame: Math.round(writePerFrame), corked: Math.round(corked), body_bytes: STREAM_BODY_BYTES },
      process_start_ms: round(processStart, 1),
      send_floor_us: round(fsync.p50 + 2 * rtt.p50, 1),
    };
  } finally {
    await rm(probeDir, { recursive: true, force: true });
  }
}

function inMicros(samplesMs: number[]): { p50: number; p99: number; mean: number; samples: number } {
  const s = summarize(samplesMs.map((ms) => ms * 1000));
  return { p50: round(s.p50, 1), p99: round(s.p99, 1), mean: round(s.mean, 1), samples: s.count };
}

async function fsyncLatency(dir: string, samples: number): Promise<FloorResult['fsync_us']> {
  const file = await open(join(dir, 'fsync-probe'), 'w');
  const record = Buffer.alloc(RECORD_BYTES, 0x6d);
  const times: number[] = [];
  try {
    for (let i = 0; i < samples; i++) {
      const start = performance.now();
      await file.write(record, 0, record.length, i * record.length);
      await file.datasync();
      times.push(performance.now() - start);
    }
  } finally {
    await file.close();
  }
  return inMicros(times);
}

async function groupCommitRate(dir: string, durationMs: number): Promise<number> {
  const file = await open(join(dir, 'group-probe'), 'w');
  const batch = Buffer.alloc(RECORD_BYTES * GROUP_RECORDS, 0x6d);
  let records = 0;
  const start = performance.now();
  try {
    while (performance.now() - start < durationMs) {
      await file.write(batch, 0, batch.length, records * RECORD_BYTES);
      await file.datasync();
      records += GROUP_RECORDS;
    }
  } finally {
    await file.close();
  }
  return records / ((performance.now() - start) / 1000);
}

async function startPeer(children: Children, mode: 'echo' | 'sink'): Promise<{ child: ChildProcess; socket: Socket }> {
  const child = children.forkSibling('floor-peer', [mode]);
  const { port } = await nextMessage<{ type: 'listening'; port: number }>(child, 'listening');
  const socket = connect({ host: '127.0.0.1', port });
  socket.setNoDelay(true);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { child, socket };
}

async function processStartMs(children: Children, samples: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < samples; i++) {
    const start = performance.now();
    const child = children.forkSibling('floor-peer', ['echo']);
    await nextMessage(child, 'listening');
    times.push(performance.now() - start);
    child.kill();
  }
  return summarize(times).p50;
}

async function loopbackRtt(children: Children, samples: number): Promise<FloorResult['rtt_us']> {
  const { child, socket } = await startPeer(children, 'echo');
  const frame = Buffer.alloc(4 + 16, 0x61);
  frame.writeUInt32BE(16, 0);
  let awaited = 0;
  let wake: (() => void) | null = null;
  socket.on('data', (chunk: Buffer) => {
    awaited -= chunk.length;
    if (awaited <= 0 && wake) wake();
  });
  const times: number[] = [];
  try {
    // The first round trips warm up both processes (JIT, socket buffers); they are not counted.
    const warmup = Math.min(200, samples);
    for (let i = 0; i < warmup + samples; i++) {
      const start = performance.now();
      awaited = frame.length;
      await new Promise<void>((resolve) => {
        wake = resolve;
        socket.write(frame);
      });
      if (i >= warmup) times.push(performance.now() - start);
    }
  } finally {
    socket.destroy();
    child.kill();
  }
  return inMicros(times);
}

/** Frames/s from the first write until the sink has received the last byte. */
async function streamRate(children: Children, corked: boolean, durationMs: number): Promise<number> {
  const { child, socket } = await startPeer(children, 'sink');
  const frame = Buffer.alloc(4 + STREAM_BODY_BYTES, 0x62);
  frame.writeUInt32BE(STREAM_BODY_BYTES, 0);
  const done = nextMessage<{ type: 'sink-done'; frames: number; lastByteAt: number }>(child, 'sink-done');
  let sent = 0;
  const start = epochMs();
  try {
    while (epochMs() - start < durationMs) {
      if (corked) socket.cork();
      let full = false;
      for (let i = 0; i < STREAM_BATCH; i++) full = !socket.write(frame) || full;
      sent += STREAM_BATCH;
      if (corked) socket.uncork();
      // Respect backpressure, as a real sender must; otherwise this measures memory, not sockets.
      if (full) await new Promise((resolve) => socket.once('drain', resolve));
      else await new Promise((resolve) => setImmediate(resolve));
    }
    socket.end();
    const report = await done;
    if (report.frames !== sent) throw new Error(`stream floor: sink counted ${report.frames} frames, ${sent} were sent`);
    return report.frames / ((report.lastByteAt - start) / 1000);
  } finally {
    socket.destroy();
    child.kill();
  }
}
