import { splitSentences } from './sentences.js';

/** Markdown a narration must not contain, with the name given as the reason. */
const MARKDOWN: Array<[RegExp, string]> = [
  [/^\s{0,3}#{1,6}\s/m, 'a markdown heading'],
  [/^\s*[-*+•]\s+\S/m, 'a list item'],
  [/^\s*\d{1,3}[.)]\s+\S/m, 'a numbered list item'],
  [/\*\*[^*\n]+\*\*|__[^_\n]+__/, 'bold text'],
  [/(^|[\s(])\*[^*\s][^*\n]*\*(?=[\s).,!?:;]|$)/m, 'italic text'],
  [/```|~~~/, 'a code fence'],
  [/\[[^\]\n]+\]\([^)\n]+\)/, 'a link'],
  [/^\s*>/m, 'a block quote'],
  [/^\s*\|.*\|\s*$/m, 'a table'],
  [/^\s*(-{3,}|\*{3,}|_{3,})\s*$/m, 'a horizontal rule'],
];

/** Characters that count towards the length: everything but whitespace (CJK has no spaces). */
export function narrationLength(text: string): number {
  return [...text.replace(/\s+/gu, '')].length;
}

export type NarrationCheck = { ok: true; sentences: string[]; characters: number } | { ok: false; reason: string };

/**
 * Whether a model's answer can be stored as `story.txt`: not empty, no markdown, at most
 * `maxChars` characters, and at least one speakable sentence. The reason names what is wrong.
 */
export function checkNarration(text: string, limits: { maxChars: number }): NarrationCheck {
  const trimmed = text.trim();
  if (!trimmed) return { ok: false, reason: 'the answer is empty' };
  for (const [pattern, what] of MARKDOWN) {
    const match = pattern.exec(trimmed);
    if (match) return { ok: false, reason: `it contains markdown (${what}: "${match[0].trim().slice(0, 40)}")` };
  }
  const characters = narrationLength(trimmed);
  if (characters > limits.maxChars) {
    return { ok: false, reason: `it has ${characters} characters, more than the ${limits.maxChars} allowed` };
  }
  const sentences = splitSentences(trimmed);
  if (sentences.length === 0) return { ok: false, reason: 'it has no speakable sentence (no letters or digits)' };
  return { ok: true, sentences, characters };
}
