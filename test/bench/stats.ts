// Small numeric helpers shared by the benchmark's parts. Percentiles use the nearest-rank method
// on a sorted copy: with a few hundred samples, interpolating would only pretend to precision.

import { readFileSync } from 'node:fs';

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  mean: number;
  min: number;
  max: number;
}

/** The q-quantile (0 ≤ q ≤ 1) of `sorted`, ascending; NaN for no samples. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank]!;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const sum = sorted.reduce((total, x) => total + x, 0);
  return {
    count: sorted.length,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    mean: sorted.length === 0 ? NaN : sum / sorted.length,
    min: sorted[0] ?? NaN,
    max: sorted.at(-1) ?? NaN,
  };
}

export function median(samples: readonly number[]): number {
  return quantile([...samples].sort((a, b) => a - b), 0.5);
}

/** Milliseconds on a clock every process on this machine shares (the wall clock, with the
 *  sub-millisecond resolution of performance.now): lets the bench compare an instant taken in
 *  a load worker with one taken here, as failover timing needs. */
export function epochMs(): number {
  return performance.timeOrigin + performance.now();
}

export const round = (value: number, digits = 0): number => {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
};

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** CPU seconds process `pid` has used so far in user and in system (kernel) mode, from /proc
 *  (Linux; NaN elsewhere). The kernel counts in clock ticks, 100 per second on Linux. */
export function cpuSeconds(pid: number): { user: number; system: number } {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start after its closing paren.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { user: Number(fields[11]) / 100, system: Number(fields[12]) / 100 };
  } catch {
    return { user: NaN, system: NaN };
  }
}
