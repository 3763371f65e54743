/**
 * Splits a narration into provider requests ("chunks") at sentence boundaries, each under the
 * provider's per-request character limit. A sentence longer than the limit on its own is cut at
 * clause punctuation, then at spaces, then at a fixed width; its pieces are put back together
 * into one sentence after synthesis.
 */

/** Part of one input sentence (the whole sentence unless it was longer than a request allows). */
export interface SpeechPiece {
  /** index of the input sentence this piece belongs to */
  sentence: number;
  text: string;
}

/** The text of one provider request. */
export interface SpeechChunk {
  index: number;
  /** pieces joined with {@link pieceJoiner} */
  text: string;
  pieces: SpeechPiece[];
  /** where each piece starts and ends in `text`, in UTF-16 code units (`text.slice(from, to)`) */
  offsets: Array<{ from: number; to: number }>;
}

const HAN_OR_FULLWIDTH_END = /[\p{Script=Han}\u3000-\u303f\uff00-\uffef]$/u;
const CLAUSE_BREAK = /(?<=[，,、；;：:])/u;

/** Counts characters as speech services do: Unicode code points. */
export function characterCount(text: string): number {
  let count = 0;
  for (const _ of text) count++;
  return count;
}

/** Joiner between two pieces of one request: nothing after Chinese text, a space otherwise. */
export function pieceJoiner(previous: string): string {
  return HAN_OR_FULLWIDTH_END.test(previous) ? '' : ' ';
}

/** Cuts one overlong sentence into pieces of at most `maxChars` characters. */
function cutSentence(text: string, maxChars: number): string[] {
  if (characterCount(text) <= maxChars) return [text];
  const out: string[] = [];
  let current = '';
  const push = () => {
    if (current.trim()) out.push(current.trim());
    current = '';
  };
  // Clauses first, then words; a word longer than the limit is cut at a fixed width.
  const units = text.split(CLAUSE_BREAK).flatMap((clause) => (characterCount(clause) <= maxChars ? [clause] : clause.split(/(?<=\s)/u)));
  for (const unit of units) {
    if (characterCount(unit) > maxChars) {
      push();
      const chars = Array.from(unit);
      for (let i = 0; i < chars.length; i += maxChars)
        out.push(
          chars
            .slice(i, i + maxChars)
            .join('')
            .trim(),
        );
      continue;
    }
    if (characterCount(current + unit) > maxChars) push();
    current += unit;
  }
  push();
  return out.filter(Boolean);
}

/**
 * Packs sentences, in order, into as few requests as fit under `maxChars` each.
 *
 * @throws RangeError when `maxChars` is below 20 (no sensible request fits).
 */
export function planSpeechChunks(sentences: string[], maxChars: number): SpeechChunk[] {
  if (!Number.isFinite(maxChars) || maxChars < 20) throw new RangeError(`maxChars must be at least 20, got ${maxChars}`);
  const pieces: SpeechPiece[] = sentences.flatMap((sentence, index) => cutSentence(sentence.trim(), maxChars).map((text) => ({ sentence: index, text })));
  const chunks: SpeechChunk[] = [];
  let current: SpeechChunk | undefined;
  for (const piece of pieces) {
    const joiner = current ? pieceJoiner(current.text) : '';
    if (!current || characterCount(current.text) + characterCount(joiner) + characterCount(piece.text) > maxChars) {
      current = { index: chunks.length, text: piece.text, pieces: [piece], offsets: [{ from: 0, to: piece.text.length }] };
      chunks.push(current);
      continue;
    }
    const from = current.text.length + joiner.length;
    current.text += joiner + piece.text;
    current.pieces.push(piece);
    current.offsets.push({ from, to: from + piece.text.length });
  }
  return chunks;
}
