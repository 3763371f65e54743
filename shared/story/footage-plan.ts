/**
 * The plan Gemini makes when it watches the footage: narration sentences, each naming the clip
 * and the time range it describes. What is asked (the response schema), and the one check of the
 * answer before it becomes `story.txt` and `visual-plan.json`.
 */
import { Type, type Schema } from '@google/genai';
import type { VisualPlan } from '../video-options.js';
import { narrationLength } from './narration-checks.js';
import { MAX_SENTENCE_CHARS, cleanText } from './sentences.js';

/** A clip the model may name: one usable, ACTIVE file at Gemini. */
export interface FootageClip {
  /** the file name under `sources/<creator>/<video>/media/` */
  file_name: string;
  duration_ms: number;
  /** size on screen (rotation applied) */
  width: number;
  height: number;
  /** the Files API URI and type, as generateContent references it */
  uri: string;
  mime_type: string;
}

/** At most this many sentences in one plan. */
export const MAX_PLAN_SENTENCES = 60;
/** A range shorter than this shows nothing a viewer can follow. */
export const MIN_RANGE_MS = 500;
/** Seconds in the answer are rounded by the model: a range ending this little past the clip is clamped, not refused. */
export const END_TOLERANCE_MS = 100;

/** The JSON the answer must be: `{sentences: [{text, clip, start_seconds, end_seconds}]}`, clip one of the names. */
export function footagePlanSchema(clipNames: string[]): Schema {
  return {
    type: Type.OBJECT,
    properties: {
      sentences: {
        type: Type.ARRAY,
        minItems: '1',
        maxItems: String(MAX_PLAN_SENTENCES),
        items: {
          type: Type.OBJECT,
          properties: {
            text: { type: Type.STRING, description: 'one narration sentence, as spoken' },
            clip: { type: Type.STRING, enum: clipNames, description: 'the file name of the clip shown while it is spoken' },
            start_seconds: { type: Type.NUMBER, description: 'where the shown part of the clip starts' },
            end_seconds: { type: Type.NUMBER, description: 'where it ends' },
          },
          required: ['text', 'clip', 'start_seconds', 'end_seconds'],
          propertyOrdering: ['text', 'clip', 'start_seconds', 'end_seconds'],
        },
      },
    },
    required: ['sentences'],
  };
}

/** The clips' facts as the prompt lists them, one line each. */
export function describeClips(clips: FootageClip[]): string {
  return clips
    .map((c, i) => {
      const shape = c.width > c.height ? 'landscape' : c.width < c.height ? 'portrait' : 'square';
      return `${i + 1}. "${c.file_name}": ${(c.duration_ms / 1000).toFixed(2)} s, ${c.width}x${c.height} (${shape})`;
    })
    .join('\n');
}

export type PlanCheck =
  | { ok: true; plan: VisualPlan; sentences: string[] }
  /** `sentences`: the answer's speakable sentences, when it had any (a narration without the plan) */
  | { ok: false; reason: string; sentences: string[] };

// eslint-disable-next-line no-control-regex -- the point is to find control characters
const MARKUP = /[*_#`|<>[\]{}\u0000-\u0008]|^\s*[-•]\s/u;

/**
 * Checks an answer against the clips: JSON of the schema's shape, every clip named known, `0 ≤
 * start < end ≤ duration` (an end up to {@link END_TOLERANCE_MS} past the clip is clamped), each
 * range at least {@link MIN_RANGE_MS}, within one clip the ranges going forward, every sentence
 * speakable (letters or digits, no markup, at most {@link MAX_SENTENCE_CHARS} characters) and the
 * whole at most `maxChars`. The reason names the first problem and the sentence.
 */
export function checkFootagePlan(answer: string, a: { clips: FootageClip[]; maxChars: number }): PlanCheck {
  let parsed: unknown;
  try {
    parsed = JSON.parse(answer);
  } catch {
    return { ok: false, reason: 'the answer is not JSON', sentences: [] };
  }
  const list = (parsed as { sentences?: unknown } | null)?.sentences;
  if (!Array.isArray(list)) return { ok: false, reason: 'the answer has no "sentences" list', sentences: [] };
  const entries = list.map((entry: unknown) => (typeof entry === 'object' && entry !== null ? (entry as Record<string, unknown>) : {}));
  const texts = entries.map((e) => (typeof e.text === 'string' ? cleanText(e.text).replace(/\n/g, ' ') : ''));
  const speakable = texts.filter((t) => /[\p{L}\p{N}]/u.test(t) && !MARKUP.test(t) && [...t].length <= MAX_SENTENCE_CHARS);
  const refuse = (reason: string): PlanCheck => ({ ok: false, reason, sentences: speakable });
  if (entries.length === 0) return refuse('the plan has no sentences');
  if (entries.length > MAX_PLAN_SENTENCES) return refuse(`the plan has ${entries.length} sentences, more than ${MAX_PLAN_SENTENCES}`);
  const byName = new Map(a.clips.map((c) => [c.file_name, c]));
  const lastStart = new Map<string, number>();
  const sentences: VisualPlan['sentences'] = [];
  for (const [i, entry] of entries.entries()) {
    const n = `sentence ${i + 1}`;
    const text = texts[i];
    if (!/[\p{L}\p{N}]/u.test(text)) return refuse(`${n} has no speakable text`);
    if (MARKUP.test(text)) return refuse(`${n} contains markup ("${text.slice(0, 40)}")`);
    if ([...text].length > MAX_SENTENCE_CHARS) return refuse(`${n} has more than ${MAX_SENTENCE_CHARS} characters`);
    const clip = typeof entry.clip === 'string' ? byName.get(entry.clip) : undefined;
    if (!clip) return refuse(`${n} names the clip "${String(entry.clip)}", which is not one of ${[...byName.keys()].map((k) => `"${k}"`).join(', ')}`);
    const start = typeof entry.start_seconds === 'number' ? Math.round(entry.start_seconds * 1000) : NaN;
    let end = typeof entry.end_seconds === 'number' ? Math.round(entry.end_seconds * 1000) : NaN;
    if (!Number.isFinite(start) || !Number.isFinite(end)) return refuse(`${n} has no numeric start and end`);
    if (start < 0) return refuse(`${n} starts before the beginning of "${clip.file_name}" (${start / 1000} s)`);
    if (end > clip.duration_ms + END_TOLERANCE_MS) {
      return refuse(`${n} shows ${start / 1000}–${end / 1000} s of "${clip.file_name}", past its end (${clip.duration_ms / 1000} s)`);
    }
    end = Math.min(end, clip.duration_ms);
    if (end - start < MIN_RANGE_MS) return refuse(`${n} shows ${start / 1000}–${end / 1000} s of "${clip.file_name}": less than ${MIN_RANGE_MS / 1000} s`);
    const previous = lastStart.get(clip.file_name);
    if (previous !== undefined && start < previous) {
      return refuse(`${n} goes back in "${clip.file_name}" (starts at ${start / 1000} s, after a sentence that started at ${previous / 1000} s)`);
    }
    lastStart.set(clip.file_name, start);
    sentences.push({ text, clip: clip.file_name, start_ms: start, end_ms: end });
  }
  const characters = narrationLength(sentences.map((s) => s.text).join(''));
  if (characters > a.maxChars) return refuse(`the narration has ${characters} characters, more than the ${a.maxChars} allowed`);
  return { ok: true, plan: { version: 1, source: 'gemini', sentences }, sentences: sentences.map((s) => s.text) };
}
