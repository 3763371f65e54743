import { describe, expect, it } from 'vitest';
import type { Draft, DraftMaterial, DraftTrack } from '../../shared/draft/draft.js';
import { InvalidDraftError } from '../../shared/render/render-errors.js';
import { DEFAULT_STILLS_FPS, planRender } from '../../shared/render/render-plan.js';
import { layoutSubtitles } from '../../shared/render/subtitle-layout.js';

/**
 * The render plan is pure data computed from the draft: what is on screen and heard when. These
 * tests need no ffmpeg (test/e2e/render-draft.test.ts checks the rendered pixels and samples).
 */
const S = 1_000_000;
const bg = (id: string, a: string): DraftMaterial => ({ id, type: 'generated_background', colors: [a, '#000000'] });
const seg = (id: string, material_id: string, start: number, duration: number, source?: number) => ({
  id,
  material_id,
  target: { start_us: start * S, duration_us: duration * S },
  ...(source === undefined ? {} : { source: { start_us: source * S, duration_us: duration * S } }),
});

function draftOf(materials: DraftMaterial[], tracks: DraftTrack[], seconds = 4): Draft {
  return { version: 1, task_id: 't', canvas: { width: 1080, height: 1920, fps: 25 }, duration_us: seconds * S, language: 'en', materials, tracks };
}

describe('planRender', () => {
  it('shows the later track on overlap, holds the previous picture over a gap and fills a leading gap with the first picture', () => {
    const draft = draftOf(
      [bg('red', '#ff0000'), bg('blue', '#0000ff')],
      [
        { type: 'video', name: 'base', segments: [seg('r', 'red', 1, 1), seg('r2', 'red', 3, 1)] },
        { type: 'video', name: 'top', segments: [seg('b', 'blue', 1.5, 1)] },
      ],
    );

    const plan = planRender(draft, { fps: 10 });

    expect(plan.totalFrames).toBe(40);
    expect(plan.visuals.map((v) => [v.material?.id, v.startFrame, v.endFrame])).toEqual([
      ['red', 0, 15], // leading gap and the red segment, merged
      ['blue', 15, 30], // the top track wins from 1.5 s, and its picture holds over the gap to 3 s
      ['red', 30, 40],
    ]);
  });

  it('plays each audio track gapless: silence before and between segments, the source offset kept, cut at the draft end', () => {
    const draft = draftOf(
      [{ id: 'n', type: 'audio', key: 'n.wav', content_type: 'audio/wav', duration_us: 9 * S }],
      [{ type: 'audio', name: 'narration', segments: [seg('b', 'n', 2, 5, 1), seg('a', 'n', 0.5, 1)] }],
    );

    const plan = planRender(draft);

    expect(plan.audioTracks).toEqual([
      [
        { materialId: null, sourceStartUs: 0, durationUs: 0.5 * S },
        { materialId: 'n', sourceStartUs: 0, durationUs: 1 * S },
        { materialId: null, sourceStartUs: 0, durationUs: 0.5 * S },
        { materialId: 'n', sourceStartUs: 1 * S, durationUs: 2 * S },
      ],
    ]);
  });

  it('takes the subtitles material over the text track, and the text track cues without one', () => {
    const text: DraftTrack = { type: 'text', name: 'captions', segments: [{ id: 'c', text: 'Hi', target: { start_us: 0, duration_us: 1.25 * S } }] };
    const srt: DraftMaterial = { id: 'srt', type: 'subtitles', key: 's.srt', content_type: 'application/x-subrip' };

    expect(planRender(draftOf([srt], [text])).subtitles).toEqual({ kind: 'material', materialId: 'srt' });
    expect(planRender(draftOf([], [text])).subtitles).toEqual({ kind: 'cues', cues: [{ text: 'Hi', startUs: 0, endUs: 1.25 * S }] });
    expect(planRender(draftOf([], [])).subtitles).toBeNull();
  });

  it('renders at the canvas fps capped at the stills default unless asked, and refuses an unusable draft', () => {
    expect(planRender(draftOf([], [])).fps).toBe(DEFAULT_STILLS_FPS);
    expect(planRender(draftOf([], []), { fps: 30 }).fps).toBe(30);
    expect(() => planRender(draftOf([], []), { fps: 0 })).toThrow(InvalidDraftError);
    expect(() => planRender({ ...draftOf([], []), canvas: { width: 1081, height: 1920, fps: 25 } })).toThrow(InvalidDraftError);
  });
});

describe('layoutSubtitles', () => {
  it('writes the cues as SRT with millisecond times and wraps a long Chinese line to the frame', () => {
    const srt = layoutSubtitles({
      canvas: { width: 1080, height: 1920, fps: 25 },
      cues: [{ text: '你好，这是旁白字幕。这是一个很长很长的中文句子需要被折行才能放进画面里面去。', startUs: 1_234_567, endUs: 3_723_000_000 }],
    });

    expect(srt).toBe('1\n00:00:01,235 --> 01:02:03,000\n你好，这是旁白字幕。这是一\n个很长很长的中文句子需要被\n折行才能放进画面里面去。\n');
  });
});
