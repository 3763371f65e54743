import { describe, expect, it } from 'vitest';
import type { Draft, DraftMaterial, DraftTrack } from '../../shared/draft/draft.js';
import { volumeExpression } from '../../shared/render/ffmpeg-command.js';
import { duckingKeyframes } from '../../shared/render/music-ducking.js';
import { InvalidDraftError } from '../../shared/render/render-errors.js';
import { planRender } from '../../shared/render/render-plan.js';
import { buildAss, captionLook, captionPages, captionUnits } from '../../shared/render/subtitle-layout.js';

/** Pure parts of the timeline: caption line breaking and ASS events, the plan of clips and fades, ducking. */
const S = 1_000_000;
const canvas = { width: 1080, height: 1920, fps: 25 };

describe('captionPages', () => {
  it('breaks a long Chinese caption into lines no wider than the safe width, at most two lines a page', () => {
    const text = '这是一个很长的中文字幕句子，用来测试自动换行是否能够正常工作，而且还要再长一些才会分页。';
    const maxUnits = 24;

    const pages = captionPages(text, maxUnits);

    expect(pages.flat().join('')).toBe(text);
    expect(pages.length).toBeGreaterThan(1);
    for (const page of pages) expect(page.length).toBeLessThanOrEqual(2);
    for (const line of pages.flat()) expect(captionUnits(line)).toBeLessThanOrEqual(maxUnits);
    for (const line of pages.flat().slice(1)) expect(line).not.toMatch(/^[，。]/);
  });

  it('never splits a Latin word and keeps English lines inside the width too', () => {
    const pages = captionPages('我们今天讨论 TypeScript 和 ffmpeg 的用法以及 subtitle wrapping in English words', 20);

    const lines = pages.flat();
    for (const word of ['TypeScript', 'ffmpeg', 'subtitle', 'wrapping', 'English']) expect(lines.some((l) => l.includes(word))).toBe(true);
    for (const line of lines) expect(captionUnits(line)).toBeLessThanOrEqual(20);
  });

  it('fits the widest line of each preset inside the frame minus its margins and outline', () => {
    for (const style of ['plain', 'bold_outline', 'boxed', 'word_highlight'] as const) {
      const look = captionLook(canvas, style, 'bottom');
      expect(look.maxUnits * (look.fontSize / 2) + 2 * look.marginH + 2 * look.outline).toBeLessThanOrEqual(canvas.width);
    }
    expect(captionLook(canvas, 'bold_outline', 'bottom').fontSize).toBeGreaterThan(captionLook(canvas, 'plain', 'bottom').fontSize);
  });
});

describe('buildAss', () => {
  it('writes one event per spoken word for word_highlight, the word in the highlight colour', () => {
    const ass = buildAss({
      canvas,
      style: 'word_highlight',
      position: 'bottom',
      cues: [
        {
          text: 'one two',
          startUs: 0,
          endUs: 2 * S,
          words: [
            { text: 'one', startUs: 0.2 * S, endUs: 0.8 * S },
            { text: 'two', startUs: S, endUs: 1.8 * S },
          ],
        },
      ],
    });

    const events = ass.split('\n').filter((l) => l.startsWith('Dialogue:'));
    expect(events).toEqual([
      'Dialogue: 0,0:00:00.00,0:00:00.20,Caption,,0,0,0,,one two',
      'Dialogue: 0,0:00:00.20,0:00:01.00,Caption,,0,0,0,,{\\c&H0000E6FF&}one{\\r} two',
      'Dialogue: 0,0:00:01.00,0:00:02.00,Caption,,0,0,0,,one {\\c&H0000E6FF&}two{\\r}',
    ]);
  });

  it('gives boxed captions an opaque box (BorderStyle 3) and top captions the top alignment', () => {
    const style = (s: string) =>
      s
        .split('\n')
        .find((l) => l.startsWith('Style:'))
        ?.split(',') ?? [];
    const boxed = style(buildAss({ canvas, style: 'boxed', position: 'top', cues: [] }));

    expect(boxed[15]).toBe('3');
    expect(boxed[18]).toBe('8');
  });
});

describe('planRender of a moving timeline', () => {
  const clip: DraftMaterial = { id: 'clip', type: 'video', key: 'c.mp4', content_type: 'video/mp4' };
  const pic: DraftMaterial = { id: 'pic', type: 'image', key: 'p.png', content_type: 'image/png' };
  const draft = (tracks: DraftTrack[], materials: DraftMaterial[] = [clip, pic]): Draft => ({
    version: 1,
    task_id: 't',
    canvas,
    duration_us: 4 * S,
    language: 'en',
    materials,
    tracks,
  });

  it('renders at the canvas fps, plays a clip from its source offset and centres a fade on the boundary', () => {
    const plan = planRender(
      draft([
        {
          type: 'video',
          name: 'v',
          segments: [
            { id: 'a', material_id: 'clip', target: { start_us: 0, duration_us: 2 * S }, source: { start_us: 5 * S, duration_us: 2 * S } },
            { id: 'b', material_id: 'pic', target: { start_us: 2 * S, duration_us: 2 * S }, transition_in: { type: 'fade', duration_us: 0.5 * S } },
          ],
        },
      ]),
    );

    expect(plan.fps).toBe(25);
    expect(plan.moving).toBe(true);
    expect(plan.visuals.map((v) => [v.material?.id, v.startFrame, v.endFrame, v.sourceStartUs, v.fadeInFrames])).toEqual([
      ['clip', 0, 50, 5 * S, undefined],
      ['pic', 50, 100, undefined, 12],
    ]);
  });

  it('shortens a fade to leave each neighbour a frame of its own', () => {
    const plan = planRender(
      draft([
        {
          type: 'video',
          name: 'v',
          segments: [
            {
              id: 'a',
              material_id: 'pic',
              target: { start_us: 0, duration_us: 0.2 * S },
              motion: { start: { scale: 1, x: 0, y: 0 }, end: { scale: 1.2, x: 0, y: 0 } },
            },
            { id: 'b', material_id: 'pic', target: { start_us: 0.2 * S, duration_us: 3.8 * S }, transition_in: { type: 'fade', duration_us: S } },
          ],
        },
      ]),
    );

    // 0.2 s is 5 frames: the fade may take 2 of them on each side
    expect(plan.visuals.map((v) => [v.startFrame, v.fadeInFrames])).toEqual([
      [0, undefined],
      [5, 4],
    ]);
  });

  it("mixes a clip's sound only when its segment has a volume, and carries music gain, keyframes, fades and looping", () => {
    const music: DraftMaterial = { id: 'm', type: 'audio', key: 'm.mp3', content_type: 'audio/mpeg', duration_us: S };
    const plan = planRender(
      draft(
        [
          { type: 'video', name: 'v', segments: [{ id: 'a', material_id: 'clip', target: { start_us: 0, duration_us: 4 * S }, volume: 0.4 }] },
          {
            type: 'audio',
            name: 'music',
            segments: [
              {
                id: 'm1',
                material_id: 'm',
                target: { start_us: 0, duration_us: 4 * S },
                volume: 0.5,
                volume_keyframes: [
                  { offset_us: 0, volume: 1 },
                  { offset_us: S, volume: 0.3 },
                ],
                fade_out_us: 0.5 * S,
              },
            ],
          },
        ],
        [clip, music],
      ),
    );

    expect(plan.audioTracks).toEqual([
      [
        {
          materialId: 'm',
          sourceStartUs: 0,
          durationUs: 4 * S,
          volume: 0.5,
          keyframes: [
            { offsetUs: 0, volume: 1 },
            { offsetUs: S, volume: 0.3 },
          ],
          fadeOutUs: 0.5 * S,
          loop: true,
        },
      ],
      [{ materialId: 'clip', sourceStartUs: 0, durationUs: 4 * S, volume: 0.4, fromVideo: true }],
    ]);
    const muted = planRender(draft([{ type: 'video', name: 'v', segments: [{ id: 'a', material_id: 'clip', target: { start_us: 0, duration_us: 4 * S } }] }]));
    expect(muted.audioTracks).toEqual([]);
  });

  it('refuses a volume above 1, an unknown fit, an unknown caption style and a motion out of range', () => {
    const visual = (more: object): DraftTrack => ({
      type: 'video',
      name: 'v',
      segments: [{ id: 'a', material_id: 'pic', target: { start_us: 0, duration_us: S }, ...more }],
    });

    expect(() => planRender(draft([visual({ volume: 2 })]))).toThrow(InvalidDraftError);
    expect(() => planRender(draft([visual({ fit: 'stretch' })]))).toThrow(/fit "stretch"/);
    expect(() => planRender(draft([visual({ motion: { start: { scale: 0.5, x: 0, y: 0 }, end: { scale: 1, x: 0, y: 0 } } })]))).toThrow(/motion/);
    expect(() => planRender(draft([{ type: 'text', name: 't', segments: [], style: 'neon' as never }]))).toThrow(/Subtitle style "neon"/);
  });
});

describe('duckingKeyframes and the volume expression', () => {
  it('holds the music level in pauses and ducks it under speech, merging short pauses', () => {
    const keys = duckingKeyframes({
      speech: [
        { startUs: 1 * S, endUs: 2 * S },
        { startUs: 2.3 * S, endUs: 3 * S },
      ],
      durationUs: 5 * S,
      volume: 0.8,
      duckedShare: 0.25,
      rampUs: 0.2 * S,
    });

    expect(keys).toEqual([
      { offset_us: 0, volume: 0.8 },
      { offset_us: 0.8 * S, volume: 0.8 },
      { offset_us: 1 * S, volume: 0.2 },
      { offset_us: 3 * S, volume: 0.2 },
      { offset_us: 3.2 * S, volume: 0.8 },
    ]);
  });

  it('evaluates to the keyframes, linear between them and held outside', () => {
    const expression = volumeExpression([
      { offsetUs: S, volume: 1 },
      { offsetUs: 2 * S, volume: 0.2 },
      { offsetUs: 3 * S, volume: 0.2 },
    ]);
    // the expression uses ffmpeg's clip(), gte() and t: evaluate it the same way here
    const at = (t: number) =>
      // eslint-disable-next-line @typescript-eslint/no-implied-eval -- evaluates our own generated expression, the way ffmpeg will
      Function(
        't',
        'clip',
        'gte',
        `return ${expression};`,
      )(
        t,
        (x: number, a: number, b: number) => Math.min(b, Math.max(a, x)),
        (a: number, b: number) => Number(a >= b),
      ) as number;

    expect(at(0)).toBeCloseTo(1);
    expect(at(1.5)).toBeCloseTo(0.6);
    expect(at(2.5)).toBeCloseTo(0.2);
    expect(at(9)).toBeCloseTo(0.2);
  });
});
