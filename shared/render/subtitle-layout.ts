/**
 * Subtitle layout: how cue text sits on the frame — the style (size, outline, margins) scaled to
 * the canvas, CJK lines broken to fit it, and the SRT and ASS `force_style` that libass reads.
 * Pure text in, text out; the file and the font live in `render-draft.ts` and `render-fonts.ts`.
 */
import type { Draft, SubtitlePosition, SubtitleStylePreset } from '../draft/draft.js';
import { toSrt } from '../draft/subtitles.js';
import type { CueWord, SubtitleCue } from './render-plan.js';
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
    `PlayResX=${W}`,
    `PlayResY=${H}`,
    `FontName=${SUBTITLE_FONT_FAMILY}`,
    `FontSize=${style.fontSize}`,
    'Bold=1',
    'PrimaryColour=&H00FFFFFF',
    'OutlineColour=&H00000000',
    'BorderStyle=1',
    `Outline=${style.outline}`,
    'Shadow=0',
    'Alignment=2',
    `MarginL=${style.marginH}`,
    `MarginR=${style.marginH}`,
    `MarginV=${style.marginV}`,
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
  const blocks = srt
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .split(/\n{2,}/);
  return blocks
    .map((block) => {
      const lines = block.split('\n');
      const timing = lines.findIndex((l) => l.includes('-->'));
      if (timing < 0) return block;
      return [...lines.slice(0, timing + 1), ...lines.slice(timing + 1).flatMap((l) => wrapSubtitleLine(l, maxUnits))].join('\n');
    })
    .join('\n\n');
}

// ——— Caption presets (ASS) ———————————————————————————————————————————————————————————————

/** Highlight of the spoken word in `word_highlight` (#FFE600, ASS order &HAABBGGRR). */
export const HIGHLIGHT_ASS_COLOUR = '&H0000E6FF';

/** What a caption preset looks like on a canvas, in canvas pixels. */
export interface CaptionLook {
  fontSize: number;
  outline: number;
  shadow: number;
  /** 1: outline + shadow; 3: an opaque box behind each line (libass paints it in OutlineColour) */
  borderStyle: 1 | 3;
  outlineColour: string;
  alignment: number;
  marginH: number;
  marginV: number;
  /** widest line in caption units (a CJK character is 2 units, about half the font size each) */
  maxUnits: number;
}

/**
 * The look of a preset at a position. Safe areas of 9:16 platforms: the bottom ~18 % holds their
 * caption and buttons, the top ~12 % their tabs and status bar; side margins 7.5 % each.
 */
export function captionLook(canvas: Draft['canvas'], style: SubtitleStylePreset, position: SubtitlePosition): CaptionLook {
  const base = subtitleStyle(canvas);
  const big = style === 'bold_outline' || style === 'word_highlight';
  const fontSize = big ? Math.round(base.fontSize * 1.25) : base.fontSize;
  const look: CaptionLook = {
    fontSize,
    outline: big ? Math.max(3, Math.round(fontSize / 7)) : style === 'boxed' ? Math.max(4, Math.round(fontSize / 4)) : base.outline,
    shadow: big ? Math.max(1, Math.round(fontSize / 24)) : 0,
    borderStyle: style === 'boxed' ? 3 : 1,
    // the box is 25 % transparent black; outlines are opaque black
    outlineColour: style === 'boxed' ? '&H40000000' : '&H00000000',
    alignment: position === 'top' ? 8 : position === 'middle' ? 5 : 2,
    marginH: base.marginH,
    marginV: position === 'top' ? Math.round(canvas.height * 0.12) : position === 'middle' ? 0 : base.marginV,
    maxUnits: 0,
  };
  // a glyph's outline (or the box's padding) takes room on both sides of the line as well
  look.maxUnits = Math.floor((canvas.width - 2 * look.marginH - 2 * look.outline) / (fontSize / 2));
  return look;
}

/** Width of text in caption units: CJK 2, capitals and wide Latin letters 1.4, other Latin 1.1, a space 0.6. */
export function captionUnits(text: string): number {
  let w = 0;
  for (const ch of text) w += WIDE_CHAR.test(ch) ? 2 : /\s/.test(ch) ? 0.6 : /[A-ZMW@%&]/.test(ch) ? 1.4 : 1.1;
  return w;
}

/** One line of a caption as a range of the cue's text. */
interface LineRange {
  from: number;
  to: number;
}

/**
 * Breaks a caption into lines no wider than `maxUnits` (a single Latin word wider than that is
 * the only exception: words are never split), balanced, with closing punctuation never starting
 * a line; then groups them into pages of at most two lines.
 */
export function captionPages(text: string, maxUnits: number): string[][] {
  return pageRanges(text, maxUnits).map((page) => page.map((l) => text.slice(l.from, l.to)));
}

function pageRanges(text: string, maxUnits: number): LineRange[][] {
  const tokens: Array<{ text: string; from: number }> = [];
  for (const m of text.matchAll(LINE_TOKENS)) tokens.push({ text: m[0], from: m.index ?? 0 });
  const total = captionUnits(text.trim());
  const target = Math.min(maxUnits, Math.ceil(total / Math.max(1, Math.ceil(total / maxUnits))) + 1);
  const lines: Array<Array<{ text: string; from: number }>> = [[]];
  const width = (line: Array<{ text: string }>) =>
    captionUnits(
      line
        .map((t) => t.text)
        .join('')
        .trim(),
    );
  for (const token of tokens) {
    const line = lines[lines.length - 1];
    if (/^\s+$/.test(token.text)) {
      if (line.length) line.push(token);
      continue;
    }
    if (!line.length || width([...line, token]) <= target) {
      line.push(token);
      continue;
    }
    if (NO_LINE_START.test(token.text) && line.length > 1) {
      // the punctuation takes the token before it along, so no line is wider than allowed
      let carried = line.pop() as { text: string; from: number };
      const moved = [carried];
      while (line.length && /^\s+$/.test(carried.text)) moved.unshift((carried = line.pop() as { text: string; from: number }));
      lines.push([...moved.filter((t) => !/^\s+$/.test(t.text) || moved.indexOf(t) > 0), token]);
      continue;
    }
    lines.push([token]);
  }
  const ranges = lines
    .map((line) => {
      const words = line.filter((t) => !/^\s+$/.test(t.text));
      if (!words.length) return null;
      const last = words[words.length - 1];
      return { from: words[0].from, to: last.from + last.text.length };
    })
    .filter((r): r is LineRange => r !== null);
  const pages: LineRange[][] = [];
  for (let i = 0; i < ranges.length; i += 2) pages.push(ranges.slice(i, i + 2));
  return pages;
}

/** The cues of an SRT file (for styled captions over a subtitles material). */
export function parseSrt(srt: string): SubtitleCue[] {
  const time = (h: string, m: string, s: string, ms: string) => ((Number(h) * 60 + Number(m)) * 60 + Number(s)) * 1_000_000 + Number(ms) * 1000;
  const cues: SubtitleCue[] = [];
  for (const block of srt
    .replace(/^\uFEFF/, '')
    .replace(/\r\n?/g, '\n')
    .split(/\n{2,}/)) {
    const lines = block.split('\n');
    const i = lines.findIndex((l) => l.includes('-->'));
    const m = i < 0 ? null : /(\d+):(\d+):(\d+)[,.](\d+)\s*-->\s*(\d+):(\d+):(\d+)[,.](\d+)/.exec(lines[i]);
    if (!m) continue;
    const text = lines
      .slice(i + 1)
      .join(' ')
      .trim();
    if (text) cues.push({ text, startUs: time(m[1], m[2], m[3], m[4]), endUs: time(m[5], m[6], m[7], m[8]) });
  }
  return cues;
}

/**
 * The ASS file of styled captions: one style for the preset, each cue broken into pages of at
 * most two lines (timed by their words when known, else by their width), and for
 * `word_highlight` one event per spoken word with that word in {@link HIGHLIGHT_ASS_COLOUR}.
 */
export function buildAss(a: { canvas: Draft['canvas']; cues: SubtitleCue[]; style: SubtitleStylePreset; position: SubtitlePosition }): string {
  const look = captionLook(a.canvas, a.style, a.position);
  const events: string[] = [];
  const event = (startUs: number, endUs: number, text: string) => {
    if (endUs > startUs) events.push(`Dialogue: 0,${assTime(startUs)},${assTime(endUs)},Caption,,0,0,0,,${text}`);
  };
  for (const cue of a.cues) {
    const text = cue.text.replace(/\s*\n\s*/g, ' ');
    const pages = pageRanges(text, look.maxUnits);
    if (!pages.length) continue;
    const words = locateWords(text, cue.words ?? []);
    // page i starts with its first located word (the first page at the cue's start)
    const totalUnits = pages.reduce((w, p) => w + captionUnits(text.slice(p[0].from, p[p.length - 1].to)), 0);
    let byWidth = cue.startUs;
    const starts = pages.map((page, i) => {
      const first = words.find((w) => w.from >= page[0].from && w.from < page[page.length - 1].to);
      const widthStart = byWidth;
      byWidth += ((cue.endUs - cue.startUs) * captionUnits(text.slice(page[0].from, page[page.length - 1].to))) / totalUnits;
      return i === 0 ? cue.startUs : Math.max(cue.startUs, first?.startUs ?? widthStart);
    });
    pages.forEach((page, i) => {
      const pageStart = starts[i];
      const pageEnd = starts[i + 1] ?? cue.endUs;
      const inPage = words.filter((w) => w.from >= page[0].from && w.from < page[page.length - 1].to && w.startUs < pageEnd);
      if (a.style !== 'word_highlight' || !inPage.length) {
        event(pageStart, pageEnd, pageText(text, page, null));
        return;
      }
      if (inPage[0].startUs > pageStart) event(pageStart, inPage[0].startUs, pageText(text, page, null));
      inPage.forEach((w, j) => event(Math.max(pageStart, w.startUs), Math.min(pageEnd, inPage[j + 1]?.startUs ?? pageEnd), pageText(text, page, w)));
    });
  }
  const { width: W, height: H } = a.canvas;
  return [
    '[Script Info]',
    'ScriptType: v4.00+',
    `PlayResX: ${W}`,
    `PlayResY: ${H}`,
    'WrapStyle: 2',
    'ScaledBorderAndShadow: yes',
    '',
    '[V4+ Styles]',
    'Format: Name, Fontname, Fontsize, PrimaryColour, SecondaryColour, OutlineColour, BackColour, Bold, Italic, Underline, StrikeOut, ScaleX, ScaleY, Spacing, Angle, BorderStyle, Outline, Shadow, Alignment, MarginL, MarginR, MarginV, Encoding',
    `Style: Caption,${SUBTITLE_FONT_FAMILY},${look.fontSize},&H00FFFFFF,${HIGHLIGHT_ASS_COLOUR},${look.outlineColour},&H80000000,-1,0,0,0,100,100,0,0,${look.borderStyle},${look.outline},${look.shadow},${look.alignment},${look.marginH},${look.marginH},${look.marginV},1`,
    '',
    '[Events]',
    'Format: Layer, Start, End, Style, Name, MarginL, MarginR, MarginV, Effect, Text',
    ...events,
    '',
  ].join('\n');
}

/** Each word's place in the cue's text, in order; words not found in the text are left out. */
function locateWords(text: string, words: CueWord[]): Array<CueWord & { from: number; to: number }> {
  const out: Array<CueWord & { from: number; to: number }> = [];
  let cursor = 0;
  for (const w of words) {
    const needle = w.text.trim();
    if (!needle) continue;
    const at = text.indexOf(needle, cursor);
    if (at < 0) continue;
    out.push({ ...w, from: at, to: at + needle.length });
    cursor = at + needle.length;
  }
  return out;
}

function pageText(text: string, page: LineRange[], lit: { from: number; to: number } | null): string {
  return page
    .map((line) => {
      if (!lit || lit.to <= line.from || lit.from >= line.to) return assEscape(text.slice(line.from, line.to));
      const a = Math.max(line.from, lit.from);
      const b = Math.min(line.to, lit.to);
      return `${assEscape(text.slice(line.from, a))}{\\c${HIGHLIGHT_ASS_COLOUR}&}${assEscape(text.slice(a, b))}{\\r}${assEscape(text.slice(b, line.to))}`;
    })
    .join('\\N');
}

function assEscape(text: string): string {
  return text.replace(/\\/g, '＼').replace(/\{/g, '（').replace(/\}/g, '）');
}

function assTime(us: number): string {
  const cs = Math.max(0, Math.round(us / 10_000));
  const h = Math.floor(cs / 360_000);
  const m = Math.floor((cs % 360_000) / 6000);
  const s = Math.floor((cs % 6000) / 100);
  return `${h}:${String(m).padStart(2, '0')}:${String(s).padStart(2, '0')}.${String(cs % 100).padStart(2, '0')}`;
}
