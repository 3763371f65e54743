import { createHash } from 'node:crypto';
import { DRAFT_VERSION, type Draft } from './draft.js';
import type { Cue } from './subtitles.js';

const PALETTES: Array<[string, string]> = [
  ['#1e3a8a', '#0f172a'],
  ['#7c2d12', '#1c1917'],
  ['#14532d', '#052e16'],
  ['#581c87', '#1e1b4b'],
  ['#134e4a', '#0c0a09'],
  ['#9f1239', '#1f2937'],
];

/**
 * The editing draft: narration on an audio track, a generated background on the visual track
 * (no media in the source), and subtitle cues on a text track, all in microseconds.
 */
export function buildDraft(a: {
  taskId: string;
  creatorId: string;
  videoId: string;
  language: string;
  narration: { key: string; contentType: string; durationMs: number };
  subtitlesKey: string;
  cues: Cue[];
}): Draft {
  const duration_us = Math.round(a.narration.durationMs * 1000);
  const paletteIndex = createHash('sha256').update(`${a.creatorId}/${a.videoId}`).digest()[0] % PALETTES.length;
  return {
    version: DRAFT_VERSION,
    task_id: a.taskId,
    canvas: { width: 1080, height: 1920, fps: 25 },
    duration_us,
    language: a.language,
    materials: [
      { id: 'narration', type: 'audio', key: a.narration.key, content_type: a.narration.contentType, duration_us },
      { id: 'background', type: 'generated_background', colors: PALETTES[paletteIndex] },
      { id: 'subtitles', type: 'subtitles', key: a.subtitlesKey, content_type: 'application/x-subrip' },
    ],
    tracks: [
      {
        type: 'audio',
        name: 'narration',
        segments: [
          {
            id: 'narration-1',
            material_id: 'narration',
            target: { start_us: 0, duration_us },
            source: { start_us: 0, duration_us },
          },
        ],
      },
      {
        type: 'video',
        name: 'visual',
        segments: [{ id: 'background-1', material_id: 'background', target: { start_us: 0, duration_us } }],
      },
      {
        type: 'text',
        name: 'subtitles',
        segments: a.cues.map((c, i) => ({
          id: `cue-${i + 1}`,
          text: c.text,
          target: { start_us: Math.round(c.start_ms * 1000), duration_us: Math.round((c.end_ms - c.start_ms) * 1000) },
        })),
      },
    ],
  };
}
