import { createHash } from 'node:crypto';
import { DRAFT_VERSION, type Draft } from './draft.js';
import type { PictureSpan } from './picture-timeline.js';
import type { Cue } from './subtitles.js';

const PALETTES: Array<[string, string]> = [
  ['#1e3a8a', '#0f172a'],
  ['#7c2d12', '#1c1917'],
  ['#14532d', '#052e16'],
  ['#581c87', '#1e1b4b'],
  ['#134e4a', '#0c0a09'],
  ['#9f1239', '#1f2937'],
];

/** A still from the creator's media, with where it shows. */
export interface DraftPicture {
  key: string;
  content_type: string;
  width: number;
  height: number;
  span: PictureSpan;
}

/** The two colours of the generated background of a creator+video (stable across runs). */
export function backgroundColors(creatorId: string, videoId: string): [string, string] {
  const index = createHash('sha256').update(`${creatorId}/${videoId}`).digest()[0] % PALETTES.length;
  return PALETTES[index];
}

/**
 * The editing draft: narration on an audio track, the creator's stills on the visual track (or,
 * without any, a generated background), and subtitle cues on a text track, all in microseconds.
 */
export function buildDraft(a: {
  taskId: string;
  creatorId: string;
  videoId: string;
  language: string;
  narration: { key: string; contentType: string; durationMs: number };
  subtitlesKey: string;
  cues: Cue[];
  /** stills laid end to end (see planPictureSpans); none: the generated background */
  pictures?: DraftPicture[];
}): Draft {
  const duration_us = Math.round(a.narration.durationMs * 1000);
  const pictures = a.pictures ?? [];
  const visual: Pick<Draft, 'materials' | 'tracks'> = pictures.length
    ? {
        materials: pictures.map((p, i) => ({
          id: `image-${i + 1}`,
          type: 'image',
          key: p.key,
          content_type: p.content_type,
          width: p.width,
          height: p.height,
        })),
        tracks: [
          {
            type: 'video',
            name: 'visual',
            segments: pictures.map((p, i) => ({
              id: `image-${i + 1}-1`,
              material_id: `image-${i + 1}`,
              target: { start_us: p.span.start_us, duration_us: p.span.duration_us },
            })),
          },
        ],
      }
    : {
        materials: [{ id: 'background', type: 'generated_background', colors: backgroundColors(a.creatorId, a.videoId) }],
        tracks: [{ type: 'video', name: 'visual', segments: [{ id: 'background-1', material_id: 'background', target: { start_us: 0, duration_us } }] }],
      };
  return {
    version: DRAFT_VERSION,
    task_id: a.taskId,
    canvas: { width: 1080, height: 1920, fps: 25 },
    duration_us,
    language: a.language,
    materials: [
      { id: 'narration', type: 'audio', key: a.narration.key, content_type: a.narration.contentType, duration_us },
      ...visual.materials,
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
      ...visual.tracks,
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
