// The table's rows from a run's results: each figure with its ratio to the floor, its target
// (docs/performance.md) and whether this run met it. Rows go by figure, not by the order the
// sections ran in, so that each figure from the seeded cluster stands under the same figure
// from the cluster the bench filled by sending.

import type { CatchupResult } from './catchup.js';
import type { FailoverResult } from './failover.js';
import type { FloorResult } from './floor.js';
import type { LatencyResult } from './latency.js';
import { failures, int, ms, us, type Row } from './report.js';
import type { RestartResult } from './restart.js';
import type { Memory, Results } from './results.js';
import { median } from './stats.js';
import type { ThroughputLevel } from './throughput.js';

export function buildRows(results: Results, quick: boolean): Row[] {
  const { floor, scale } = results;
  const rows = [
    ...(floor ? floorRows(floor) : []),
    ...(results.latency ? latencyRows(results.latency, floor) : []),
    ...(results.throughput ?? []).map((t) => throughputRow(t, floor)),
    ...(results.failover ? failoverRows(results.failover) : []),
    ...(results.startup ? [startupRow(results.startup, results.startup.messages, 'sent', startupLoadNote(results.startup), floor)] : []),
    ...(scale?.startup ? [startupRow(scale.startup, scale.messages, 'seeded', '', floor)] : []),
    ...(results.catchup ? [catchupRow(results.catchup, `${int(results.catchup.stored)} stored`)] : []),
    ...(scale?.catchup ? [catchupRow(scale.catchup, `${int(scale.catchup.stored)} stored (seeded)`)] : []),
    ...(results.memory ? [memoryRow(results.memory.replicas, results.memory.messages, 'sent')] : []),
    ...(scale?.memory ? [memoryRow(scale.memory, scale.messages, 'seeded')] : []),
    ...Object.entries(results.failed ?? {}).map(([section, error]) => failedRow(section, error)),
  ];
  if (quick) for (const row of rows) row.section = `${row.section} (quick)`;
  return rows;
}

/** A row that reports a figure with no target. */
function figure(section: string, name: string, value: string, ratio = ''): Row {
  return { section, figure: name, value, ratio, target: '', met: null };
}

function floorRows(floor: FloorResult): Row[] {
  return [
    figure('floor', 'fdatasync of a small record, p50 / p99', `${us(floor.fsync_us.p50)} / ${us(floor.fsync_us.p99)}`),
    figure('floor', 'group commit, 100 records per fdatasync', `${int(floor.group_commit_records_per_s)} records/s`),
    figure('floor', 'loopback round trip, p50 / p99', `${us(floor.rtt_us.p50)} / ${us(floor.rtt_us.p99)}`),
    figure('floor', 'stream, one write() per frame', `${int(floor.stream_frames_per_s.write_per_frame)} frames/s`),
    figure('floor', 'stream, corked', `${int(floor.stream_frames_per_s.corked)} frames/s`),
    figure('floor', 'bare Node process start (fork → listening)', ms(floor.process_start_ms)),
    figure('floor', 'send floor = 1 fsync + 2 round trips (p50s)', us(floor.send_floor_us), '1×'),
  ];
}

function latencyRows(latency: LatencyResult, floor: FloorResult | undefined): Row[] {
  const l = latency.ms;
  const sendFloorMs = floor ? floor.send_floor_us / 1000 : NaN;
  const times = (value: number) => (Number.isFinite(sendFloorMs) ? `${(value / sendFloorMs).toFixed(1)}× send floor` : '');
  return [
    { section: 'latency', figure: 'sequential send p50 (1 in flight)', value: ms(l.p50, 2), ratio: times(l.p50), target: '≤ 3× send floor', met: Number.isFinite(sendFloorMs) ? l.p50 <= 3 * sendFloorMs : null },
    figure('latency', 'sequential send p99', ms(l.p99, 2), times(l.p99)),
  ];
}

function throughputRow(t: ThroughputLevel, floor: FloorResult | undefined): Row {
  const many = t.inFlight >= 64;
  const { cpu } = t;
  return {
    section: 'throughput',
    figure: `acked sends/s, ${t.inFlight} in flight`,
    value: `${int(t.perSecond)}/s`,
    ratio: floor ? `${((100 * t.perSecond) / floor.group_commit_records_per_s).toFixed(1)}% of group commit` : '',
    target: many ? '≥ 40,000/s' : '',
    met: many ? t.perSecond >= 40_000 : null,
    note: `latency p50 ${ms(t.latencyMs.p50, 1)}, p99 ${ms(t.latencyMs.p99, 1)}; CPU per send: primary ${int(cpu.primaryUsPerSend)} µs (kernel ${int(cpu.primarySystemUsPerSend)}; ${cpu.primaryCores.toFixed(2)} cores busy), each backup ${int(cpu.backupUsPerSend)} µs, clients ${int(cpu.clientsUsPerSend)} µs, all ${int(cpu.allUsPerSend)} µs (${cpu.allCores.toFixed(2)} cores)${failures(t.tally)}`,
  };
}

function failoverRows(f: FailoverResult): Row[] {
  const rows: Row[] = [
    { section: 'failover', figure: `kill -9 primary → next ack, median of ${f.trialsMs.length}`, value: ms(f.medianMs), ratio: '', target: '≤ 500 ms', met: f.medianMs <= 500 },
    { section: 'failover', figure: 'kill -9 primary → next ack, worst', value: `${f.trials.some((t) => t.noAck) ? '> ' : ''}${ms(f.worstMs)}`, ratio: '', target: '≤ 1,000 ms', met: f.worstMs <= 1000, note: `trials: ${f.trials.map((t) => `${t.noAck ? '>' : ''}${Math.round(t.failoverMs)}`).join(', ')} ms` },
  ];
  const known = f.trials.filter((t) => t.viewChangeMs !== null);
  if (known.length === 0) return rows;
  const extraViews = f.trials.reduce((n, t) => n + Math.max(0, (t.viewsToAck ?? 1) - 1) + (t.viewsAfterRestart ?? 0), 0);
  rows.push({
    ...figure('failover', 'of which: kill → new primary normal (median)', ms(median(known.map((t) => t.viewChangeMs!)))),
    note: `then the client found it after another ${ms(median(known.map((t) => t.clientMs!)))} (median); ${extraViews} extra view change(s) in ${f.trials.length} trials (failed view changes, or set off by the restarted replica)`,
  });
  return rows;
}

function startupLoadNote(s: { loadMs: number; loadViewChanges: number; loadStopped: string | null }): string {
  return `; sending them took ${ms(s.loadMs)}, ${s.loadViewChanges} view change(s) meanwhile${s.loadStopped ? `, and stopped early: ${s.loadStopped}` : ''}`;
}

function startupRow(r: RestartResult, messages: number, how: string, extra: string, floor: FloorResult | undefined): Row {
  const atScale = messages >= 1_000_000;
  return {
    section: 'start-up',
    figure: `process start → answers hello, ${int(messages)} messages ${how}`,
    value: ms(r.servingMs),
    ratio: floor ? `${(r.servingMs / floor.process_start_ms).toFixed(1)}× bare process start` : '',
    target: '≤ 1,000 ms at 1,000,000',
    met: atScale ? r.servingMs <= 1000 : r.servingMs > 1000 ? false : null,
    note: `journal loaded at ${ms(r.phases.loadedMs ?? NaN)}, status normal after ${ms(r.normalMs)} (±${r.resolutionMs} ms)${extra}${atScale ? '' : ' — not at target scale'}`,
  };
}

function catchupRow(c: CatchupResult, where: string): Row {
  const atScale = c.missed >= 100_000;
  return {
    section: 'catch-up',
    figure: `restart → executed all, ${int(c.missed)} missed, ${where}`,
    value: ms(c.caughtUpMs),
    ratio: '',
    target: '≤ 2,000 ms at 100,000',
    met: atScale ? c.caughtUpMs <= 2000 : c.caughtUpMs > 2000 ? false : null,
    note: `serving after ${ms(c.servingMs)}, log received by ${ms(c.phases.lastStateTransferMs ?? NaN)}, ${c.phases.viewChanges} view change(s) meanwhile; ±${c.resolutionMs} ms (status report interval)${atScale ? '' : ' — not at target scale'}`,
  };
}

function memoryRow(replicas: Memory, messages: number, how: string): Row {
  const each = (pick: (m: { rss_mb: number; peak_rss_mb: number }) => number) => replicas.map((m) => (m ? `${pick(m)}` : 'down')).join(' / ');
  return { section: 'memory', figure: `RSS per replica (0–4) at ${int(messages)} messages ${how}`, value: `${each((m) => m.rss_mb)} MB`, ratio: '', target: 'report', met: null, note: `peak ${each((m) => m.peak_rss_mb)} MB` };
}

function failedRow(section: string, error: string): Row {
  return { section, figure: 'FAILED', value: '', ratio: '', target: '', met: false, note: error.split('\n')[0]!.slice(0, 200) };
}
