/**
 * Subtitle layout: how cue text sits on the frame — the style (size, outline, margins) scaled to
 * the canvas, CJK lines broken to fit it, and the SRT and ASS `force_style` that libass reads.
 * Pure text in, text out; the file and the font live in `render-draft.ts` and `render-fonts.ts`.
 */
import type { Draft } from '../draft/draft.js';
import { toSrt } from '../draft/subtitles.js';
import type { SubtitleCue } from './render-plan.js';
import { SUBTITLE_FONT_FAMILY } from './render-fonts.js';

/** Hangul, CJK and full-width forms: characters as wide as they are tall */
const WIDE_RANGES = '\\u1100-\\u11ff\\u2e80-\\ua4cf\\uac00-\\ud7af\\uf900-\\ufaff\\ufe30-\\ufe4f\\uff00-\\uffef';
const WIDE_CHAR = new RegExp(`[${WIDE_RANGES}]`, 'u');
/** one wide character, a run of spaces, or a run of anything else (a Latin word) */
const LINE_TOKENS = new RegExp(`[${WIDE_RANGES}]|\\s+|[^\\s${WIDE_RANGES}]+`, 'gu');
/** punctuation that must not begin a line (it moves to the end of the previous one) */
const NO_LINE_START = /^[，。！？、；：,.!?;:）」』”’》〉】)\]]$/u;

const unitWidth = (text: string) => [...text].reduce((w, ch) => w + (WIDE_CHAR.test(ch) ? 2 : 1), 0);

/** Size and placement of the burned-in subtitles, in canvas pixels. */
export interface SubtitleStyle {
  fontSize: number;
  outline: number;
  marginH: number;
  marginV: number;
  /** widest line, in units of half the font size (a CJK character is 2 units) */
  maxUnits: number;
}

/** The subtitle style for a canvas: readable on a phone, clear of the platforms' overlays. */
export function subtitleStyle(canvas: Draft['canvas']): SubtitleStyle {
  const fontSize = Math.round(Math.min(canvas.height * 0.034, canvas.width * 0.06));
  const marginH = Math.round(canvas.width * 0.075);
  return {
    fontSize,
    outline: Math.max(2, Math.round(fontSize / 16)),
    marginH,
    // above the platforms' own caption and button overlay at the bottom of vertical videos
    marginV: Math.round(canvas.height * 0.18),
    maxUnits: Math.floor((canvas.width - 2 * marginH) / (fontSize / 2)),
  };
}

/** The ASS `force_style` of libass's `subtitles` filter for this canvas (unescaped). */
export function subtitleForceStyle(canvas: Draft['canvas']): string {
  const { width: W, height: H } = canvas;
  const style = subtitleStyle(canvas);
  return [
    `PlayResX=${W}`, `PlayResY=${H}`, `FontName=${SUBTITLE_FONT_FAMILY}`, `FontSize=${style.fontSize}`, 'Bold=1',
    'PrimaryColour=&H00FFFFFF', 'OutlineColour=&H00000000', 'BorderStyle=1', `Outline=${style.outline}`, 'Shadow=0',
    'Alignment=2', `MarginL=${style.marginH}`, `MarginR=${style.marginH}`, `MarginV=${style.marginV}`,
  ].join(',');
}

/**
 * The SRT to burn in, every CJK line wrapped to the canvas: the subtitles material's text when
 * the draft has one (`materialSrt`), else the plan's cues.
 */
export function layoutSubtitles(a: { canvas: Draft['canvas']; cues?: SubtitleCue[]; materialSrt?: string }): string {
  const srt = a.materialSrt ?? toSrt((a.cues ?? []).map((c) => ({ text: c.text, start_ms: c.startUs / 1000, end_ms: c.endUs / 1000 })));
  return wrapSrt(srt, subtitleStyle(a.canvas).maxUnits);
}

/**
 * Breaks one subtitle line that contains CJK text into balanced lines at most `maxUnits` wide
 * (a CJK character counts 2, others 1). The bundled libass only breaks at spaces, so an
 * unbroken Chinese line would run off the frame. Lines without CJK are returned as they are
 * (libass wraps them itself). Latin words are never split; closing punctuation never starts a line.
 */
export function wrapSubtitleLine(line: string, maxUnits: number): string[] {
  const total = unitWidth(line);
  if (total <= maxUnits || !WIDE_CHAR.test(line)) return [line];
  const tokens = line.match(LINE_TOKENS) ?? [line];
  const target = Math.ceil(total / Math.ceil(total / maxUnits));
  const lines: string[] = [];
  let current = '';
  for (const token of tokens) {
    const candidate = current + token;
    if (current.trim() && unitWidth(candidate.trimEnd()) > target && !NO_LINE_START.test(token)) {
      lines.push(current.trim());
      current = token.trimStart();
    } else {
      current = candidate;
    }
  }
  if (current.trim()) lines.push(current.trim());
  return lines;
}

/** SRT text with every CJK line wrapped to the frame; blocks that are not cues pass through. */
function wrapSrt(srt: string, maxUnits: number): string {
  const blocks = srt.replace(/^\uFEFF/, '').replace(/\r\n?/g, '\n').split(/\n{2,}/);
  return blocks
    .map((block) => {
      const lines = block.split('\n');
      const timing = lines.findIndex((l) => l.includes('-->'));
      if (timing < 0) return block;
      return [...lines.slice(0, timing + 1), ...lines.slice(timing + 1).flatMap((l) => wrapSubtitleLine(l, maxUnits))].join('\n');
    })
    .join('\n\n');
}
