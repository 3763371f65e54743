/** Small statistics over measured samples. Percentiles use the nearest-rank method. */

export function percentile(values: readonly number[], p: number): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

export function mean(values: readonly number[]): number | null {
  return values.length === 0 ? null : values.reduce((a, b) => a + b, 0) / values.length;
}

export function max(values: readonly number[]): number | null {
  return values.length === 0 ? null : Math.max(...values);
}

export function sum(values: readonly number[]): number {
  return values.reduce((a, b) => a + b, 0);
}

/** p50 / p95 / p99 / max, rounded to 0.1 ms. */
export function latencySummary(values: readonly number[]): {
  count: number;
  p50_ms: number | null;
  p95_ms: number | null;
  p99_ms: number | null;
  max_ms: number | null;
} {
  const round = (v: number | null) => (v === null ? null : Math.round(v * 10) / 10);
  return {
    count: values.length,
    p50_ms: round(percentile(values, 50)),
    p95_ms: round(percentile(values, 95)),
    p99_ms: round(percentile(values, 99)),
    max_ms: round(max(values)),
  };
}

export const round1 = (v: number | null | undefined): number | null => (v === null || v === undefined ? null : Math.round(v * 10) / 10);
export const round3 = (v: number | null | undefined): number | null => (v === null || v === undefined ? null : Math.round(v * 1000) / 1000);

/** Time-ordered [start, end] spans → gaps between consecutive spans and how many overlap. */
export function gapsAndOverlaps(spans: ReadonlyArray<{ start: number; end: number }>): { gaps: number[]; overlaps: number } {
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  const gaps: number[] = [];
  let overlaps = 0;
  let latestEnd = -Infinity;
  for (let i = 0; i < sorted.length; i++) {
    if (i > 0) {
      if (sorted[i].start < latestEnd) overlaps += 1;
      else gaps.push(sorted[i].start - latestEnd);
    }
    latestEnd = Math.max(latestEnd, sorted[i].end);
  }
  return { gaps, overlaps };
}

/**
 * Tasks that finished before a task that was ready earlier: for each task, whether some task
 * ready before it (strictly) finished after it. 0 for a first-come-first-served exporter.
 */
export function overtakes(tasks: ReadonlyArray<{ ready: number; done: number }>): number {
  let count = 0;
  for (const t of tasks) if (tasks.some((u) => u.ready < t.ready && u.done > t.done)) count += 1;
  return count;
}

/**
 * The largest head start an overtaken task had: max over pairs (u ready before t, t done before
 * u) of t.ready − u.ready. A few ms means a near tie; seconds mean a task that was ready well
 * before another still came out after it. 0 when nothing was overtaken.
 */
export function largestOvertakenLead(tasks: ReadonlyArray<{ ready: number; done: number }>): number {
  let lead = 0;
  for (const t of tasks) for (const u of tasks) if (u.ready < t.ready && u.done > t.done) lead = Math.max(lead, t.ready - u.ready);
  return lead;
}
