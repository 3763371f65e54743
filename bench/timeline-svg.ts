/**
 * The timeline picture of the export-bound run: the exporter's lane on top (its own runs, from
 * `/stats`), then one row per task with its stages as coloured bars (from the task record:
 * stage started_at / ended_at, export queued_at). A white stretch in the exporter lane while some
 * task row shows "waiting for the exporter" is the exporter sitting idle while work waited.
 *
 * Regenerate from a results file: `npx tsx bench/timeline-svg.ts [results.json] [out.svg]`.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { TimelineData } from './parts/our-design.js';

export interface TimelineCaption {
  title: string;
  subtitle: string;
}

const COLORS = {
  submit: '#c9ccd1',
  story: '#6a9fd8',
  tts: '#4bb39a',
  draft: '#9b7fd1',
  waiting: '#f6dcae',
  export: '#e07b39',
  finalize: '#7a7f87',
  job: ['#d0662a', '#f0a060'],
  gap: '#d62828',
  grid: '#e6e8eb',
  text: '#22262b',
  muted: '#6b7178',
};

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

export function renderTimelineSvg(data: TimelineData, caption: TimelineCaption): string {
  const left = 96;
  const right = 24;
  const width = 1280;
  const plotWidth = width - left - right;
  const headerHeight = 86;
  const laneHeight = 26;
  const rowHeight = 18;
  const rows = [...data.tasks].sort((a, b) => a.index - b.index);
  const ends = [...rows.map((t) => t.ended ?? t.export.end ?? t.stages.draft.end ?? t.submitted), ...data.exporter_jobs.map((j) => j.end ?? j.start)];
  const span = Math.max(1000, Math.max(...ends) - data.t0);
  const x = (t: number) => left + ((t - data.t0) / span) * plotWidth;
  const plotTop = headerHeight + 22;
  const rowsTop = plotTop + laneHeight + 14;
  const height = rowsTop + rows.length * rowHeight + 46;
  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
    `<text x="${left}" y="26" font-size="17" font-weight="bold" fill="${COLORS.text}">${esc(caption.title)}</text>`,
    `<text x="${left}" y="46" font-size="12.5" fill="${COLORS.muted}">${esc(caption.subtitle)}</text>`,
  );

  // Legend
  const legend: Array<[string, string]> = [
    ['submitted → first stage', COLORS.submit],
    ['story', COLORS.story],
    ['tts', COLORS.tts],
    ['draft', COLORS.draft],
    ['waiting for the exporter (queued)', COLORS.waiting],
    ['export (worker: job accepted → video stored)', COLORS.export],
    ['finalize', COLORS.finalize],
  ];
  let lx = left;
  for (const [label, color] of legend) {
    out.push(
      `<rect x="${lx}" y="60" width="12" height="12" fill="${color}"/>`,
      `<text x="${lx + 16}" y="70.5" font-size="11.5" fill="${COLORS.text}">${esc(label)}</text>`,
    );
    lx += 16 + label.length * 6.6 + 18;
  }

  // Time grid
  const step = niceStep(span / 1000);
  for (let s = 0; s * 1000 <= span; s += step) {
    const gx = x(data.t0 + s * 1000);
    out.push(
      `<line x1="${gx.toFixed(1)}" y1="${plotTop - 4}" x2="${gx.toFixed(1)}" y2="${height - 34}" stroke="${COLORS.grid}" stroke-width="1"/>`,
      `<text x="${gx.toFixed(1)}" y="${height - 18}" font-size="11" text-anchor="middle" fill="${COLORS.muted}">${s} s</text>`,
    );
  }
  out.push(`<text x="${left + plotWidth}" y="${height - 4}" font-size="11" text-anchor="end" fill="${COLORS.muted}">seconds since the submissions</text>`);

  // Exporter lane: its own runs; gaps between consecutive runs marked.
  out.push(
    `<text x="${left - 8}" y="${plotTop + laneHeight / 2 + 4}" font-size="12" font-weight="bold" text-anchor="end" fill="${COLORS.text}">exporter</text>`,
  );
  out.push(`<rect x="${left}" y="${plotTop}" width="${plotWidth}" height="${laneHeight}" fill="none" stroke="${COLORS.grid}"/>`);
  const jobs = [...data.exporter_jobs].sort((a, b) => a.start - b.start);
  const indexOf = new Map(rows.map((t) => [t.task_id, t.index] as const));
  jobs.forEach((j, i) => {
    const end = j.end ?? j.start;
    const w = Math.max(0.8, x(end) - x(j.start));
    out.push(
      `<rect x="${x(j.start).toFixed(2)}" y="${plotTop + 2}" width="${w.toFixed(2)}" height="${laneHeight - 4}" fill="${COLORS.job[i % 2]}"><title>task ${(indexOf.get(j.task_id) ?? -1) + 1}: ${((end - j.start) / 1000).toFixed(2)} s</title></rect>`,
    );
    if (w > 16) {
      out.push(
        `<text x="${(x(j.start) + w / 2).toFixed(1)}" y="${plotTop + laneHeight / 2 + 4}" font-size="10" text-anchor="middle" fill="#ffffff">${(indexOf.get(j.task_id) ?? -1) + 1}</text>`,
      );
    }
    const next = jobs[i + 1];
    if (next && next.start - end > 0) {
      const gx = x(end);
      const gw = x(next.start) - gx;
      out.push(
        `<rect x="${gx.toFixed(2)}" y="${plotTop + laneHeight + 1}" width="${Math.max(1, gw).toFixed(2)}" height="4" fill="${COLORS.gap}"><title>exporter idle ${(next.start - end).toFixed(0)} ms</title></rect>`,
      );
    }
  });

  // Task rows
  rows.forEach((t, r) => {
    const y = rowsTop + r * rowHeight;
    const bar = (from: number | null, to: number | null, color: string, label: string, inset = 2) => {
      if (from === null || to === null || to < from) return;
      out.push(
        `<rect x="${x(from).toFixed(2)}" y="${y + inset}" width="${Math.max(0.8, x(to) - x(from)).toFixed(2)}" height="${rowHeight - 2 * inset}" fill="${color}"><title>${esc(label)} ${((to - from) / 1000).toFixed(2)} s</title></rect>`,
      );
    };
    out.push(
      `<text x="${left - 8}" y="${y + rowHeight / 2 + 4}" font-size="11" text-anchor="end" fill="${t.status === 'SUCCEEDED' ? COLORS.text : COLORS.gap}">task ${String(t.index + 1).padStart(2, '0')}</text>`,
    );
    if (r % 2 === 1) out.push(`<rect x="${left}" y="${y}" width="${plotWidth}" height="${rowHeight}" fill="#f7f8f9"/>`);
    bar(t.submitted, t.stages.story.start, COLORS.submit, 'submitted → story', 6);
    bar(t.stages.story.start, t.stages.story.end, COLORS.story, 'story');
    bar(t.stages.tts.start, t.stages.tts.end, COLORS.tts, 'tts');
    bar(t.stages.draft.start, t.stages.draft.end, COLORS.draft, 'draft');
    bar(t.export.queued, t.export.start, COLORS.waiting, 'waiting for the exporter');
    bar(t.export.start, t.export.end, COLORS.export, 'export');
    bar(t.export.end, t.ended, COLORS.finalize, 'finalize');
  });

  out.push('</svg>');
  return `${out.join('\n')}\n`;
}

function niceStep(seconds: number): number {
  for (const s of [1, 2, 5, 10, 15, 20, 30, 60, 120, 300]) if (seconds / s <= 16) return s;
  return 600;
}

/** The caption the bench uses, from the export-bound summary in a results file. */
export function captionFor(
  exportBound: {
    tasks: number;
    makespan_ms: number;
    ratio: number | null;
    utilization: number | null;
    gaps_ms: { max: number | null };
    overlapping_exports: number;
    narration_s: { mean: number | null };
  },
  when: string,
): TimelineCaption {
  const pct = exportBound.utilization === null ? 'n/a' : `${(exportBound.utilization * 100).toFixed(1)} %`;
  return {
    title: `Export-bound run: ${exportBound.tasks} tasks (≈${exportBound.narration_s.mean ?? '?'} s narrations), makespan ${(exportBound.makespan_ms / 1000).toFixed(1)} s`,
    subtitle:
      `ratio makespan / (first export start + exporter busy) = ${exportBound.ratio ?? 'n/a'} · exporter utilization ${pct} · ` +
      `largest gap between exports ${exportBound.gaps_ms.max ?? 'n/a'} ms · overlaps ${exportBound.overlapping_exports} · ${when}`,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const input = process.argv[2] ?? 'bench/results/latest.json';
  const output = process.argv[3] ?? 'bench/results/timeline.svg';
  const results = JSON.parse(readFileSync(input, 'utf8')) as {
    finished_at: string;
    export_bound: Parameters<typeof captionFor>[0] & { timeline: TimelineData };
  };
  writeFileSync(output, renderTimelineSvg(results.export_bound.timeline, captionFor(results.export_bound, results.finished_at)));
  console.log(`wrote ${output}`);
}
