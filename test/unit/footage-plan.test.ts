import { describe, expect, it } from 'vitest';
import { checkFootagePlan, describeClips, footagePlanSchema, type FootageClip } from '../../shared/story/footage-plan.js';
import { ledgerEntryReusable } from '../../shared/story/footage-story.js';

/** The check of a plan Gemini made of the footage, before it becomes story.txt and visual-plan.json. */
const CLIPS: FootageClip[] = [
  { file_name: '2.mp4', duration_ms: 4000, width: 1920, height: 1080, uri: 'u2', mime_type: 'video/mp4' },
  { file_name: '山.mov', duration_ms: 3000, width: 1080, height: 1920, uri: 'u3', mime_type: 'video/quicktime' },
];
const check = (sentences: unknown[], maxChars = 300) => checkFootagePlan(JSON.stringify({ sentences }), { clips: CLIPS, maxChars });
const s = (text: string, clip: string, start: number, end: number) => ({ text, clip, start_seconds: start, end_seconds: end });

describe('the plan of the footage', () => {
  it('accepts sentences inside their clips, going forward, and keeps them as milliseconds', () => {
    const out = check([s('The city wakes.', '2.mp4', 0, 1.5), s('山上起雾了。', '山.mov', 0.25, 3.05), s('Then noon.', '2.mp4', 1.5, 4)]);
    expect(out).toEqual({
      ok: true,
      sentences: ['The city wakes.', '山上起雾了。', 'Then noon.'],
      plan: {
        version: 1,
        source: 'gemini',
        sentences: [
          { text: 'The city wakes.', clip: '2.mp4', start_ms: 0, end_ms: 1500 },
          // 50 ms past the end is the model's rounding: clamped
          { text: '山上起雾了。', clip: '山.mov', start_ms: 250, end_ms: 3000 },
          { text: 'Then noon.', clip: '2.mp4', start_ms: 1500, end_ms: 4000 },
        ],
      },
    });
  });

  it('refuses, naming the sentence and the problem, and keeps the speakable sentences for a narration without the plan', () => {
    const cases: Array<[unknown[], string]> = [
      [[s('Past the end.', '2.mp4', 3, 4.5)], 'sentence 1 shows 3–4.5 s of "2.mp4", past its end (4 s)'],
      [[s('Unknown.', 'x.mp4', 0, 1)], 'sentence 1 names the clip "x.mp4", which is not one of "2.mp4", "山.mov"'],
      [[s('Fine.', '2.mp4', 0, 1), s('Backwards.', '2.mp4', -1, 1)], 'sentence 2 starts before the beginning of "2.mp4" (-1 s)'],
      [[s('Late.', '2.mp4', 2, 3), s('Earlier.', '2.mp4', 1, 2)], 'sentence 2 goes back in "2.mp4" (starts at 1 s, after a sentence that started at 2 s)'],
      [[s('Empty range.', '2.mp4', 2, 2)], 'sentence 1 shows 2–2 s of "2.mp4": less than 0.5 s'],
      [[s('**Bold** words.', '2.mp4', 0, 1)], 'sentence 1 contains markup ("**Bold** words.")'],
      [[s('…', '2.mp4', 0, 1)], 'sentence 1 has no speakable text'],
      [[s('x'.repeat(40), '2.mp4', 0, 1), s('y'.repeat(40), '山.mov', 0, 1)], 'the narration has 80 characters, more than the 50 allowed'],
      [[], 'the plan has no sentences'],
    ];
    for (const [sentences, reason] of cases) {
      const out = check(sentences, 50);
      expect(out.ok, reason).toBe(false);
      if (!out.ok) expect(out.reason).toBe(reason);
    }
    expect(check([s('Fine.', '2.mp4', 0, 1), s('Unknown.', 'x.mp4', 0, 1)])).toMatchObject({ ok: false, sentences: ['Fine.', 'Unknown.'] });
    expect(checkFootagePlan('not json', { clips: CLIPS, maxChars: 50 })).toEqual({ ok: false, reason: 'the answer is not JSON', sentences: [] });
    expect(checkFootagePlan('{"plan":[]}', { clips: CLIPS, maxChars: 50 })).toMatchObject({ ok: false, reason: 'the answer has no "sentences" list' });
  });

  it('asks for the clip by name only among the clips, and lists their facts for the prompt', () => {
    const schema = footagePlanSchema(CLIPS.map((c) => c.file_name));
    expect(schema.properties?.sentences.items?.properties?.clip.enum).toEqual(['2.mp4', '山.mov']);
    expect(schema.properties?.sentences.items?.required).toEqual(['text', 'clip', 'start_seconds', 'end_seconds']);
    expect(describeClips(CLIPS)).toBe('1. "2.mp4": 4.00 s, 1920x1080 (landscape)\n2. "山.mov": 3.00 s, 1080x1920 (portrait)');
  });
});

describe('the ledger of uploads', () => {
  it('reuses an upload of the same object that lives more than another hour, and nothing else', () => {
    const now = Date.parse('2026-12-01T10:00:00Z');
    const entry = { etag: '"abc"', size: 1000, expires_at: '2026-12-03T10:00:00Z' };
    expect(ledgerEntryReusable(entry, { etag: '"abc"', size: 1000 }, now)).toBe(true);
    expect(ledgerEntryReusable(entry, { etag: '"def"', size: 1000 }, now)).toBe(false);
    expect(ledgerEntryReusable(entry, { etag: '"abc"', size: 999 }, now)).toBe(false);
    expect(ledgerEntryReusable({ ...entry, expires_at: '2026-12-01T10:59:00Z' }, { etag: '"abc"', size: 1000 }, now)).toBe(false);
    expect(ledgerEntryReusable({ ...entry, expires_at: '2026-12-01T11:01:00Z' }, { etag: '"abc"', size: 1000 }, now)).toBe(true);
  });
});
