/** Cleans source text and splits it into sentences (Chinese and Latin punctuation). */
// eslint-disable-next-line no-control-regex -- removing control characters is the point
const CONTROL = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f\u200b-\u200f\u2028\u2029\ufeff]/g;
/** a sentence longer than this is split further at commas, so TTS requests and cues stay short */
export const MAX_SENTENCE_CHARS = 160;

export function cleanText(text: string): string {
  return text
    .normalize('NFC')
    .replace(/\r\n?/g, '\n')
    .replace(CONTROL, '')
    .replace(/[ \t\u00a0\u3000]+/g, ' ')
    .split('\n')
    .map((line) => line.trim())
    .join('\n')
    .replace(/\n{2,}/g, '\n')
    .trim();
}

function splitLong(sentence: string): string[] {
  if ([...sentence].length <= MAX_SENTENCE_CHARS) return [sentence];
  const parts = sentence.split(/(?<=[，,、：:])\s*/u).filter(Boolean);
  const out: string[] = [];
  let current = '';
  for (const part of parts) {
    if (current && [...current].length + [...part].length > MAX_SENTENCE_CHARS) {
      out.push(current.trim());
      current = '';
    }
    current += part.endsWith(' ') || /[\u3000-\u9fff\uff00-\uffef]$/u.test(part) ? part : `${part} `;
  }
  if (current.trim()) out.push(current.trim());
  // A clause still too long (no commas at all) is cut at a fixed width.
  return out.flatMap((s) => {
    const chars = [...s];
    if (chars.length <= MAX_SENTENCE_CHARS) return [s];
    const pieces: string[] = [];
    for (let i = 0; i < chars.length; i += MAX_SENTENCE_CHARS)
      pieces.push(
        chars
          .slice(i, i + MAX_SENTENCE_CHARS)
          .join('')
          .trim(),
      );
    return pieces;
  });
}

/** Sentences of cleaned text: split after 。！？!?；; and after `.` followed by a space or line end. */
export function splitSentences(text: string): string[] {
  const cleaned = cleanText(text);
  if (!cleaned) return [];
  return cleaned
    .split('\n')
    .flatMap((line) => line.split(/(?<=[。！？!?；;…])\s*|(?<=\.)\s+/u))
    .map((s) => s.trim())
    .filter((s) => /[\p{L}\p{N}]/u.test(s))
    .flatMap(splitLong);
}
