/**
 * The speed targets we hold ourselves to. They live here, not in the tests: a test must
 * not depend on how busy the machine is; a benchmark reports against its targets and says MET or
 * MISSED, with the load average beside it.
 */
import type { OurDesignResult } from './parts/our-design.js';
import type { OverheadResult } from './parts/orchestration-overhead.js';
import type { StormResult } from './parts/submission-storm.js';

export interface TargetVerdict {
  target: string;
  measured: string;
  /** null: the part that measures it did not run */
  met: boolean | null;
}

export function judgeTargets(r: { exportBound?: OurDesignResult; storm?: StormResult; overhead?: OverheadResult }): TargetVerdict[] {
  const out: TargetVerdict[] = [];
  const e = r.exportBound;
  out.push({
    target: 'export-bound ratio ≤ 1.05',
    measured: e?.ratio != null ? e.ratio.toFixed(3) : 'not run',
    met: e?.ratio != null ? e.ratio <= 1.05 : null,
  });
  out.push({
    target: 'exporter utilization ≥ 95 %',
    measured: e?.utilization != null ? `${(e.utilization * 100).toFixed(1)} %` : 'not run',
    met: e?.utilization != null ? e.utilization >= 0.95 : null,
  });
  out.push({
    target: '0 overlapping exports',
    measured: e ? `${e.overlapping_exports} overlaps, max ${e.max_concurrent_renders} concurrent render(s)` : 'not run',
    met: e ? e.overlapping_exports === 0 && e.max_concurrent_renders <= 1 : null,
  });
  const b = r.storm?.burst;
  out.push({
    target: `${b?.submissions ?? 200}-burst fully answered < 2 s`,
    measured: b ? `${b.submissions - b.latency.unanswered}/${b.submissions} answered, last after ${b.time_to_last_answer_ms} ms` : 'not run',
    met: b ? b.latency.unanswered === 0 && (b.time_to_last_answer_ms ?? Infinity) < 2000 : null,
  });
  const s = r.storm?.sustained;
  out.push({
    target: `submit p99 < 50 ms at a sustained ${s?.rate_per_s ?? 50}/s`,
    measured: s ? `p99 ${s.latency.p99_ms} ms (${s.answered}/${s.planned} answered)` : 'not run',
    met: s ? s.answered === s.planned && (s.latency.p99_ms ?? Infinity) < 50 : null,
  });
  const o = r.overhead;
  out.push({
    target: 'orchestration overhead < 50 ms per state transition',
    measured:
      o?.overhead_per_transition_ms.p50 != null
        ? `median ${o.overhead_per_transition_ms.p50.toFixed(1)} ms (p95 ${o.overhead_per_transition_ms.p95?.toFixed(1)} ms)`
        : 'not run',
    met: o?.overhead_per_transition_ms.p50 != null ? o.overhead_per_transition_ms.p50 < 50 : null,
  });
  return out;
}
