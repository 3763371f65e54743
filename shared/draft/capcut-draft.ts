/**
 * The task's timeline as a CapCut / JianYing (剪映) draft folder, written by our own writer:
 *
 * ```
 * {creator_id}_{video_id}_{task_id}/
 *   draft_content.json      the timeline: materials, tracks, segments (µs)
 *   draft_meta_info.json    what the editor's draft list shows (name, duration, imported media)
 *   materials/narration.wav
 *   materials/<name>.mp4 …     the clips (`materials.videos[]`, type "video")
 *   materials/01-<name>.jpg …  the stills (type "photo"), or materials/background.png (the generated background)
 *   materials/<name>.mp3 …     the music (`materials.audios[]`, on a second audio track)
 * ```
 *
 * What draft.json says, the editor's way (docs/jianying-draft.md has the whole table): source and
 * target ranges as they are; a still's motion as scale/position keyframes; a cross-fade into a
 * segment as JianYing's overlapping 叠化 transition on the segment before it (the editor centres
 * an overlapping transition on the cut, so its boundary is our fade's midpoint); `fit: blur` as
 * the canvas blur; volumes, fades and volume keyframes of the music; caption presets as text
 * styles (the spoken word of `word_highlight` lit by a rich-text colour range, one text segment
 * per word).
 *
 * Target: the **JianYing Pro 5.9** draft format (`draft_content.json` version 360000,
 * new_version "110.0.0") — the last release that saves `draft_content.json` unencrypted, the
 * format the open-source generators are verified against (pyJianYingDraft's template, which
 * capcut-cli's writer also clones), and one that JianYing 6+ and CapCut desktop still open (they
 * re-save in their own format).
 *
 * Media paths: the copy stored with the task uses JianYing's draft-folder placeholder
 * (`##_draftpath_placeholder_<uuid>_##/materials/…`), which the editor resolves to wherever the
 * folder is; the local copy (`DRAFT_LOCAL_DIR`) is written with absolute paths to its own files.
 * Every id is derived from the task id, so a retried stage writes the same draft.
 */
import { createHash } from 'node:crypto';
import type {
  CaptionWord,
  Draft,
  DraftMaterial,
  MediaSegment,
  MotionFrame,
  SubtitlePosition,
  SubtitleStylePreset,
  TextSegment,
  VolumeKeyframe,
} from './draft.js';

/** The editor and format version this writer targets. */
export const CAPCUT_TARGET = {
  app_id: 3704,
  app_source: 'lv',
  app_version: '5.9.0',
  os: 'windows',
  version: 360000,
  new_version: '110.0.0',
} as const;

/** JianYing's token for "this draft's own folder" in material paths. */
export const DRAFT_PATH_PLACEHOLDER = '##_draftpath_placeholder_0E685133-18CE-45ED-8CB8-2904A212EC80_##';

/** A photo lasts this long as a material (JianYing's own value for stills: 3 h). */
export const PHOTO_MATERIAL_US = 10_800_000_000;

/** The file of a draft.json material inside the folder. */
export interface CapcutMediaFile {
  /** path inside the folder, e.g. `materials/narration.wav` */
  path: string;
  width?: number;
  height?: number;
}

export interface CapcutDraftInput {
  /** the timeline (draft.json): tracks, segments and cues are taken from it as they are */
  draft: Draft;
  /** `{creator_id}_{video_id}_{task_id}` */
  folderName: string;
  /** the file of each audio/picture material, by draft.json material id */
  files: Record<string, CapcutMediaFile>;
  /** when the draft was made, ms since the epoch */
  createdAtMs: number;
  /** where the folder's files are: {@link DRAFT_PATH_PLACEHOLDER}, or the folder's absolute path */
  mediaRoot: string;
}

type Json = Record<string, unknown>;

/** A UUID-shaped id derived from the task and a name: the same draft gets the same ids. */
export function stableDraftId(seed: string, name: string): string {
  const h = createHash('sha256').update(`${seed}\n${name}`).digest('hex').toUpperCase();
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${((parseInt(h[16], 16) & 3) | 8).toString(16).toUpperCase()}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const EMPTY_MATERIAL_LISTS = [
  'ai_translates',
  'audio_balances',
  'audio_effects',
  'audio_fades',
  'audio_track_indexes',
  'audios',
  'beats',
  'canvases',
  'chromas',
  'color_curves',
  'digital_humans',
  'drafts',
  'effects',
  'flowers',
  'green_screens',
  'handwrites',
  'hsl',
  'images',
  'log_color_wheels',
  'loudnesses',
  'manual_deformations',
  'masks',
  'material_animations',
  'material_colors',
  'multi_language_refs',
  'placeholders',
  'plugin_effects',
  'primary_color_wheels',
  'realtime_denoises',
  'shapes',
  'smart_crops',
  'smart_relights',
  'sound_channel_mappings',
  'speeds',
  'stickers',
  'tail_leaders',
  'text_templates',
  'texts',
  'time_marks',
  'transitions',
  'video_effects',
  'video_trackings',
  'videos',
  'vocal_beautifys',
  'vocal_separations',
] as const;

/** How a caption preset looks in the editor (JianYing's text units: size 6 ≈ the mp4's plain caption). */
interface EditorCaptionStyle {
  size: number;
  /** outline width in the editor's units (0.08 is a thin outline); 0: none */
  stroke: number;
  /** a drop shadow under the letters */
  shadow: boolean;
  /** a box behind the lines: colour and opacity */
  box?: { color: string; alpha: number };
}

/** The presets in the editor, matching the renderer's looks (shared/render/subtitle-layout.ts). */
export const EDITOR_CAPTION_STYLES: Record<SubtitleStylePreset, EditorCaptionStyle> = {
  plain: { size: 6, stroke: 0.08, shadow: false },
  bold_outline: { size: 7.5, stroke: 0.14, shadow: true },
  // the renderer's box is 25 % transparent black
  boxed: { size: 6, stroke: 0, shadow: false, box: { color: '#000000', alpha: 0.75 } },
  word_highlight: { size: 7.5, stroke: 0.14, shadow: true },
};

/** The lit word of `word_highlight` (#FFE600, as the renderer's highlight). */
export const HIGHLIGHT_RGB: [number, number, number] = [1, 230 / 255, 0];

/**
 * Vertical centre of the caption box, in the editor's units (half canvas heights from the centre,
 * up positive), for each safe-area position: the bottom ~18 % and top ~12 % of a 9:16 frame belong
 * to the platforms' overlays.
 */
export const CAPTION_TRANSFORM_Y: Record<SubtitlePosition, number> = { bottom: -0.6, middle: 0, top: 0.7 };

/** Widest caption line, as a share of the canvas width (the renderer's side margins are 7.5 % each). */
const CAPTION_LINE_MAX_WIDTH = 0.82;

/** JianYing's own cross-fade (叠化), an overlapping transition: its catalogue ids. */
export const CROSS_FADE_TRANSITION = { name: '叠化', effect_id: '322577', resource_id: '6724845717472416269' } as const;

/** Blur of the editor's canvas blur for `fit: blur` (its second of four steps). */
export const CANVAS_BLUR = 0.375;

/**
 * Points the motion keyframes sample the renderer's eased (cosine) progress at: the editor
 * interpolates linearly between keyframes, and nine points keep its path within 0.9 % of the
 * motion's range from the mp4's (five: 3.5 %).
 */
const MOTION_SAMPLES = Array.from({ length: 9 }, (_, i) => i / 8);

const range = (start: number, duration: number) => ({ start, duration });

/** Scale that makes a `w`×`h` picture cover the canvas (JianYing's scale 1 fits it inside). */
function coverScale(w: number | undefined, h: number | undefined, canvas: { width: number; height: number }): number {
  if (!w || !h) return 1;
  const fit = Math.min(canvas.width / w, canvas.height / h);
  const cover = Math.max(canvas.width / w, canvas.height / h);
  return Math.round((cover / fit) * 10000) / 10000;
}

const r4 = (v: number) => Math.round(v * 10000) / 10000;

function baseSegment(a: { id: string; materialId: string; start: number; duration: number; renderIndex: number; refs: string[]; volume?: number }): Json {
  const volume = a.volume ?? 1.0;
  return {
    enable_adjust: true,
    enable_color_correct_adjust: false,
    enable_color_curves: true,
    enable_color_match_adjust: false,
    enable_color_wheels: true,
    enable_lut: true,
    enable_smart_color_adjust: false,
    last_nonzero_volume: volume > 0 ? volume : 1.0,
    reverse: false,
    track_attribute: 0,
    track_render_index: 0,
    visible: true,
    id: a.id,
    material_id: a.materialId,
    target_timerange: range(a.start, a.duration),
    common_keyframes: [],
    keyframe_refs: [],
    speed: 1.0,
    volume,
    extra_material_refs: a.refs,
    is_tone_modify: false,
    render_index: a.renderIndex,
  };
}

function clip(scale: number, transform: { x: number; y: number } = { x: 0, y: 0 }): Json {
  return {
    alpha: 1.0,
    flip: { horizontal: false, vertical: false },
    rotation: 0.0,
    scale: { x: scale, y: scale },
    transform: { x: transform.x, y: transform.y },
  };
}

/** One property's keyframes (`time_offset` from the segment's start, µs; linear between them). */
function keyframeList(id: (name: string) => string, name: string, property: string, points: Array<[number, number]>): Json {
  return {
    id: id(`keyframes/${name}/${property}`),
    keyframe_list: points.map(([offset, value], i) => ({
      curveType: 'Line',
      graphID: '',
      left_control: { x: 0.0, y: 0.0 },
      right_control: { x: 0.0, y: 0.0 },
      id: id(`keyframe/${name}/${property}/${i}`),
      time_offset: offset,
      values: [value],
    })),
    material_id: '',
    property_type: property,
  };
}

/**
 * The editor's scale and position of a picture at one motion frame. Scale: the zoom over the
 * covering size (`cover`) or over the fitted size (`blur`). Position, in half canvas widths and
 * heights (up positive): the visible window at `x`, `y` of the room the zoom leaves puts the
 * picture's centre `-x·(scale−1)` widths and `y·(scale−1)` heights from the canvas centre.
 */
export function motionTransform(frame: MotionFrame, baseScale: number): { scale: number; x: number; y: number } {
  return { scale: r4(baseScale * frame.scale), x: r4(-frame.x * (frame.scale - 1)) + 0, y: r4(frame.y * (frame.scale - 1)) + 0 };
}

type Rgb = [number, number, number];
const WHITE: Rgb = [1.0, 1.0, 1.0];

function textContent(text: string, look: EditorCaptionStyle, lit?: { from: number; to: number }): string {
  const style = (from: number, to: number, color: Rgb) => ({
    fill: { alpha: 1.0, content: { render_type: 'solid', solid: { alpha: 1.0, color } } },
    // Style ranges count UTF-16 code units, as the editor's own text engine does.
    range: [from, to],
    size: look.size,
    bold: true,
    italic: false,
    underline: false,
    strokes: look.stroke > 0 ? [{ content: { solid: { alpha: 1.0, color: [0.0, 0.0, 0.0] } }, width: look.stroke }] : [],
    ...(look.shadow ? { shadows: [{ diffuse: 0.025, alpha: 0.8, distance: 4.0, content: { solid: { color: [0.0, 0.0, 0.0] } }, angle: -45.0 }] } : {}),
  });
  const pieces: Array<[number, number, Rgb]> = lit
    ? [
        [0, lit.from, WHITE],
        [lit.from, lit.to, HIGHLIGHT_RGB],
        [lit.to, text.length, WHITE],
      ]
    : [[0, text.length, WHITE]];
  return JSON.stringify({ styles: pieces.filter(([from, to]) => to > from).map(([from, to, color]) => style(from, to, color)), text });
}

/** Cues inside the timeline, with a length. */
function clampCues(segments: TextSegment[], durationUs: number): TextSegment[] {
  return segments
    .map((seg) => {
      const start = Math.min(seg.target.start_us, durationUs);
      const end = Math.min(seg.target.start_us + seg.target.duration_us, durationUs);
      return { ...seg, target: { start_us: start, duration_us: end - start } };
    })
    .filter((seg) => seg.target.duration_us > 0);
}

/** Where each spoken word sits in the cue's text (UTF-16 offsets), found in order; words not found are left unlit. */
function locateWords(text: string, words: CaptionWord[]): Array<{ word: CaptionWord; at?: { from: number; to: number } }> {
  let cursor = 0;
  return words.map((word) => {
    const needle = word.text.trim();
    const from = needle ? text.indexOf(needle, cursor) : -1;
    if (from < 0) return { word };
    cursor = from + needle.length;
    return { word, at: { from, to: cursor } };
  });
}

/**
 * The editor's text segments of one cue: the whole cue for the plain presets; for
 * `word_highlight` one segment per spoken word, from its start to the next word's (the first from
 * the cue's start, the last to its end), each showing the whole cue with that word lit.
 */
function cuePieces(cue: TextSegment, highlight: boolean): Array<{ start: number; end: number; lit?: { from: number; to: number } }> {
  const start = cue.target.start_us;
  const end = cue.target.start_us + cue.target.duration_us;
  const words = highlight ? locateWords(cue.text, cue.words ?? []).filter((w) => w.word.target.start_us < end) : [];
  if (!words.length) return [{ start, end }];
  const pieces: Array<{ start: number; end: number; lit?: { from: number; to: number } }> = [];
  const firstAt = Math.max(start, words[0].word.target.start_us);
  if (firstAt > start) pieces.push({ start, end: firstAt });
  words.forEach((w, i) => {
    // never before the piece ahead of it: word timings out of order must not overlap on the track
    const from = Math.max(start, w.word.target.start_us, pieces.at(-1)?.end ?? start);
    const to = Math.min(end, i + 1 < words.length ? Math.max(start, words[i + 1].word.target.start_us) : end);
    if (to > from) pieces.push({ start: from, end: to, lit: w.at });
  });
  // the cue's last moment belongs to its last piece whatever the timings said
  const last = pieces.at(-1);
  if (last && last.end < end) last.end = end;
  return pieces;
}

/**
 * The part of a clip a segment plays, inside the clip: the renderer holds a clip's last frame when
 * the clip ends before its segment does, which an editor segment cannot; there the part is cut at
 * the clip's end and plays slowed to fill the segment (the boundaries stay the same).
 */
function clipSource(seg: MediaSegment, clipUs: number | undefined): { start_us: number; duration_us: number } {
  const source = seg.source ?? { start_us: 0, duration_us: seg.target.duration_us };
  if (!clipUs || source.start_us + source.duration_us <= clipUs) return source;
  const start = Math.min(source.start_us, Math.max(0, clipUs - MIN_CLIP_PART_US));
  return { start_us: start, duration_us: clipUs - start };
}

/** Shortest part of a clip an editor segment plays when the draft asks for one past the clip's end. */
const MIN_CLIP_PART_US = 40_000;

/** The envelope's gain at `offset` (linear between keyframes, held before the first and after the last). */
function envelopeAt(keys: VolumeKeyframe[], offset: number): number {
  if (offset <= keys[0].offset_us) return keys[0].volume;
  for (let i = 1; i < keys.length; i++) {
    const [a, b] = [keys[i - 1], keys[i]];
    if (offset <= b.offset_us)
      return b.offset_us === a.offset_us ? b.volume : a.volume + ((b.volume - a.volume) * (offset - a.offset_us)) / (b.offset_us - a.offset_us);
  }
  return keys[keys.length - 1].volume;
}

/** The envelope's keyframes inside a segment of `durationUs`: in time order, one at the end (with its gain there) instead of any past it. */
function envelopeWithin(keys: VolumeKeyframe[], durationUs: number): VolumeKeyframe[] {
  const sorted = [...keys].sort((a, b) => a.offset_us - b.offset_us);
  const inside = sorted.filter((k) => k.offset_us >= 0 && k.offset_us <= durationUs);
  if (sorted.some((k) => k.offset_us > durationUs) && inside.at(-1)?.offset_us !== durationUs)
    inside.push({ offset_us: durationUs, volume: envelopeAt(sorted, durationUs) });
  return inside.length ? inside : [{ offset_us: 0, volume: envelopeAt(sorted, 0) }];
}

/**
 * An audio segment that plays past the end of its material (music looped under a longer
 * narration: the renderer loops the file) as the editor needs it: one segment per pass through
 * the file, each inside the material, the envelope cut at the seams (with its gain there), the
 * fade-in on the first piece and the fade-out on the last.
 */
function loopPieces(seg: MediaSegment, material: DraftMaterial | undefined): MediaSegment[] {
  const length = material?.type === 'audio' ? material.duration_us : 0;
  const source = seg.source ?? { start_us: 0, duration_us: seg.target.duration_us };
  if (!(length > 0) || source.start_us + seg.target.duration_us <= length || source.duration_us !== seg.target.duration_us) return [seg];
  const pieces: MediaSegment[] = [];
  const keys = seg.volume_keyframes ?? [];
  for (let done = 0, from = source.start_us % length; done < seg.target.duration_us; from = 0) {
    const duration = Math.min(length - from, seg.target.duration_us - done);
    const inside = keys.filter((k) => k.offset_us > done && k.offset_us < done + duration).map((k) => ({ offset_us: k.offset_us - done, volume: k.volume }));
    const piece: MediaSegment = {
      ...seg,
      id: pieces.length ? `${seg.id}~${pieces.length + 1}` : seg.id,
      target: { start_us: seg.target.start_us + done, duration_us: duration },
      source: { start_us: from, duration_us: duration },
      volume_keyframes: keys.length
        ? [{ offset_us: 0, volume: envelopeAt(keys, done) }, ...inside, { offset_us: duration, volume: envelopeAt(keys, done + duration) }]
        : undefined,
      fade_in_us: pieces.length ? undefined : seg.fade_in_us,
      fade_out_us: undefined,
    };
    pieces.push(piece);
    done += duration;
  }
  pieces[pieces.length - 1].fade_out_us = seg.fade_out_us;
  return pieces;
}

/** Frames of the renderer's cross-fade: centred on the boundary, at most half of either neighbour but one frame. */
function fadeUs(fadeUsAsked: number, previousUs: number, thisUs: number, fps: number): number {
  const frames = (us: number) => Math.round((us * fps) / 1_000_000);
  const room = Math.min(frames(previousUs), frames(thisUs));
  const half = Math.min(Math.floor(frames(fadeUsAsked) / 2), Math.floor((room - 1) / 2));
  return half > 0 ? Math.round((2 * half * 1_000_000) / fps) : 0;
}

/**
 * `draft_content.json` and `draft_meta_info.json` of the task's draft, as objects.
 *
 * @throws RangeError when a segment's material has no file (a bug in the caller).
 */
export function buildCapcutDraft(input: CapcutDraftInput): { content: Json; meta: Json } {
  const { draft, files } = input;
  const fps = draft.canvas.fps;
  const id = (name: string) => stableDraftId(draft.task_id, name);
  const path = (file: CapcutMediaFile) => `${input.mediaRoot}/${file.path}`;
  const byId = new Map<string, DraftMaterial>(draft.materials.map((m) => [m.id, m]));
  const fileOf = (materialId: string) => {
    const file = files[materialId];
    if (!file) throw new RangeError(`material "${materialId}" has no file in the draft folder`);
    return file;
  };
  const lists: Record<string, Json[]> = Object.fromEntries(EMPTY_MATERIAL_LISTS.map((k) => [k, [] as Json[]]));
  const speedFor = (segmentId: string, speed = 1.0) => {
    const speedId = id(`speed/${segmentId}`);
    lists.speeds.push({ curve_speed: null, id: speedId, mode: 0, speed, type: 'speed' });
    return speedId;
  };
  // A clip's length as a material: probed, else as far as its segments play into it.
  const clipDuration = (m: DraftMaterial) => {
    if (m.type === 'video' && m.duration_us) return m.duration_us;
    const played = draft.tracks.flatMap((t) => (t.type === 'text' ? [] : t.segments.filter((s) => s.material_id === m.id)));
    return Math.max(1, ...played.map((s) => (s.source ? s.source.start_us + s.source.duration_us : s.target.duration_us)));
  };

  // Materials: one per draft.json material that has a file (clips, pictures, narration, music).
  const materialIds = new Map<string, string>();
  const metaMedia: Json[] = [];
  const createdS = Math.floor(input.createdAtMs / 1000);
  for (const m of draft.materials) {
    if (m.type === 'subtitles') continue; // the text track carries the cues
    const file = fileOf(m.id);
    const materialId = id(`material/${m.id}`);
    materialIds.set(m.id, materialId);
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
    const kind = m.type === 'audio' ? 'music' : m.type === 'video' ? 'video' : 'photo';
    const duration = m.type === 'audio' ? m.duration_us : m.type === 'video' ? clipDuration(m) : PHOTO_MATERIAL_US;
    const width = file.width ?? ('width' in m ? m.width : undefined);
    const height = file.height ?? ('height' in m ? m.height : undefined);
    if (m.type === 'audio') {
      lists.audios.push({
        app_id: 0,
        category_id: '',
        category_name: 'local',
        check_flag: 3,
        copyright_limit_type: 'none',
        duration: m.duration_us,
        effect_id: '',
        formula_id: '',
        id: materialId,
        local_material_id: materialId,
        music_id: materialId,
        name,
        path: path(file),
        source_platform: 0,
        type: 'extract_music',
        wave_points: [],
      });
    } else {
      lists.videos.push({
        audio_fade: null,
        category_id: '',
        category_name: 'local',
        check_flag: 63487,
        crop: {
          upper_left_x: 0.0,
          upper_left_y: 0.0,
          upper_right_x: 1.0,
          upper_right_y: 0.0,
          lower_left_x: 0.0,
          lower_left_y: 1.0,
          lower_right_x: 1.0,
          lower_right_y: 1.0,
        },
        crop_ratio: 'free',
        crop_scale: 1.0,
        duration,
        height: height ?? draft.canvas.height,
        id: materialId,
        local_material_id: '',
        material_id: materialId,
        material_name: name,
        media_path: '',
        path: path(file),
        type: kind,
        width: width ?? draft.canvas.width,
      });
    }
    metaMedia.push({
      ai_group_type: '',
      create_time: createdS,
      duration,
      enter_from: 0,
      extra_info: name,
      file_Path: path(file),
      height: height ?? 0,
      id: id(`import/${m.id}`),
      import_time: createdS,
      import_time_ms: input.createdAtMs * 1000,
      item_source: 1,
      md5: '',
      metetype: kind,
      roughcut_time_range: range(0, kind === 'photo' ? -1 : duration),
      sub_time_range: range(-1, -1),
      type: 0,
      width: width ?? 0,
    });
  }

  // Tracks, in draft.json's order; visual and audio segments point at the materials above.
  const tracks: Json[] = draft.tracks.map((track, t) => {
    const trackId = id(`track/${t}/${track.name}`);
    if (track.type === 'text') {
      const look = EDITOR_CAPTION_STYLES[track.style ?? 'plain'];
      const transformY = CAPTION_TRANSFORM_Y[track.position ?? 'bottom'];
      const highlight = track.style === 'word_highlight';
      return {
        attribute: 0,
        flag: 0,
        id: trackId,
        is_default_name: false,
        name: track.name,
        type: 'text',
        // A cue squeezed to nothing (two words at one instant) has no place on an editor's track.
        segments: clampCues(track.segments, draft.duration_us).flatMap((seg: TextSegment) =>
          cuePieces(seg, highlight).map((piece, p) => {
            const key = p === 0 ? seg.id : `${seg.id}/${p}`;
            const textId = id(`text/${key}`);
            lists.texts.push({
              id: textId,
              content: textContent(seg.text, look, piece.lit),
              typesetting: 0,
              alignment: 1,
              letter_spacing: 0.0,
              line_spacing: 0.02,
              line_feed: 1,
              line_max_width: CAPTION_LINE_MAX_WIDTH,
              force_apply_line_max_width: false,
              // 7: text, fill, size; +8 outline; +16 background box; +32 shadow
              check_flag: 7 | (look.stroke > 0 ? 8 : 0) | (look.box ? 16 : 0) | (look.shadow ? 32 : 0),
              type: 'subtitle',
              global_alpha: 1.0,
              ...(look.box
                ? {
                    background_style: 1,
                    background_color: look.box.color,
                    background_alpha: look.box.alpha,
                    background_round_radius: 0.0,
                    background_height: 0.14,
                    background_width: 0.14,
                    background_horizontal_offset: 0.0,
                    background_vertical_offset: 0.0,
                  }
                : {}),
            });
            const segmentId = id(`segment/${key}`);
            return {
              ...baseSegment({
                id: segmentId,
                materialId: textId,
                start: piece.start,
                duration: piece.end - piece.start,
                renderIndex: 15000,
                refs: [speedFor(segmentId)],
              }),
              source_timerange: null,
              clip: clip(1.0, { x: 0, y: transformY }),
              uniform_scale: { on: true, value: 1.0 },
            };
          }),
        ),
      };
    }
    const laid = track.type === 'audio' ? track.segments.flatMap((seg) => loopPieces(seg, byId.get(seg.material_id))) : track.segments;
    const segments: Json[] = laid.map((seg, s) => {
      const material = byId.get(seg.material_id);
      const materialId = materialIds.get(seg.material_id);
      if (!material || !materialId) throw new RangeError(`segment "${seg.id}" refers to material "${seg.material_id}", which has no file`);
      const segmentId = id(`segment/${seg.id}`);
      const source = material.type === 'video' ? clipSource(seg, material.duration_us) : (seg.source ?? { start_us: 0, duration_us: seg.target.duration_us });
      const speed = source.duration_us > 0 && seg.target.duration_us > 0 ? r4(source.duration_us / seg.target.duration_us) : 1;
      const refs = [speedFor(segmentId, speed)];
      const keyframes: Json[] = [];
      const name = `${t}/${seg.id}`;
      if (track.type === 'audio') {
        const volume = seg.volume ?? 1;
        if (seg.fade_in_us || seg.fade_out_us) {
          const fadeId = id(`fade/${seg.id}`);
          const fadeIn = Math.min(seg.fade_in_us ?? 0, seg.target.duration_us);
          lists.audio_fades.push({
            id: fadeId,
            fade_in_duration: fadeIn,
            fade_out_duration: Math.min(seg.fade_out_us ?? 0, seg.target.duration_us - fadeIn),
            fade_type: 0,
            type: 'audio_fade',
          });
          refs.push(fadeId);
        }
        // The editor's volume keyframes replace the segment's volume while they apply: they carry the product.
        if (seg.volume_keyframes?.length)
          keyframes.push(
            keyframeList(
              id,
              name,
              'KFTypeVolume',
              envelopeWithin(seg.volume_keyframes, seg.target.duration_us).map((k) => [k.offset_us, r4(volume * k.volume)]),
            ),
          );
        return {
          ...baseSegment({ id: segmentId, materialId, start: seg.target.start_us, duration: seg.target.duration_us, renderIndex: 0, refs, volume }),
          speed,
          source_timerange: range(source.start_us, source.duration_us),
          common_keyframes: keyframes,
          clip: null,
          hdr_settings: null,
        };
      }
      const file = fileOf(seg.material_id);
      const fit = seg.fit ?? 'cover';
      const width = file.width ?? ('width' in material ? material.width : undefined);
      const height = file.height ?? ('height' in material ? material.height : undefined);
      const baseScale = fit === 'cover' ? coverScale(width, height, draft.canvas) : 1;
      if (fit === 'blur') {
        const canvasId = id(`canvas/${seg.id}`);
        // colour: unused by a blur, transparent black as the editor writes it
        lists.canvases.push({ id: canvasId, type: 'canvas_blur', blur: CANVAS_BLUR, color: '#00000000', source_platform: 0 });
        refs.push(canvasId);
      }
      // The cross-fade into the next segment: the editor keeps it on the earlier of the two.
      const next = laid[s + 1];
      if (next?.transition_in && next.transition_in.duration_us > 0) {
        const duration = fadeUs(next.transition_in.duration_us, seg.target.duration_us, next.target.duration_us, fps);
        if (duration > 0) {
          const transitionId = id(`transition/${next.id}`);
          lists.transitions.push({
            category_id: '',
            category_name: '',
            duration,
            effect_id: CROSS_FADE_TRANSITION.effect_id,
            id: transitionId,
            is_overlap: true,
            name: CROSS_FADE_TRANSITION.name,
            platform: 'all',
            resource_id: CROSS_FADE_TRANSITION.resource_id,
            type: 'transition',
          });
          refs.push(transitionId);
        }
      }
      let transform = clip(baseScale);
      if (seg.motion && material.type !== 'video') {
        // From the first frame to the last, eased as the renderer eases it.
        const lastFrameUs = Math.max(0, Math.round(((Math.round((seg.target.duration_us * fps) / 1_000_000) - 1) * 1_000_000) / fps));
        const { start, end } = seg.motion;
        const at = MOTION_SAMPLES.map((share) => {
          const p = (1 - Math.cos(Math.PI * share)) / 2;
          const frame = { scale: start.scale + (end.scale - start.scale) * p, x: start.x + (end.x - start.x) * p, y: start.y + (end.y - start.y) * p };
          return { offset: Math.round(lastFrameUs * share), ...motionTransform(frame, baseScale) };
        });
        keyframes.push(
          keyframeList(
            id,
            name,
            'KFTypeScaleX',
            at.map((k) => [k.offset, k.scale]),
          ),
          keyframeList(
            id,
            name,
            'KFTypeScaleY',
            at.map((k) => [k.offset, k.scale]),
          ),
          keyframeList(
            id,
            name,
            'KFTypePositionX',
            at.map((k) => [k.offset, k.x]),
          ),
          keyframeList(
            id,
            name,
            'KFTypePositionY',
            at.map((k) => [k.offset, k.y]),
          ),
        );
        transform = clip(at[0].scale, { x: at[0].x, y: at[0].y });
      }
      // A clip's own sound is muted unless the draft asks for it.
      const volume = material.type === 'video' ? (seg.volume ?? 0) : 1;
      return {
        ...baseSegment({ id: segmentId, materialId, start: seg.target.start_us, duration: seg.target.duration_us, renderIndex: 0, refs, volume }),
        speed,
        source_timerange: range(source.start_us, source.duration_us),
        common_keyframes: keyframes,
        clip: transform,
        uniform_scale: { on: keyframes.length === 0, value: 1.0 },
        hdr_settings: { intensity: 1.0, mode: 1, nits: 1000 },
      };
    });
    return { attribute: 0, flag: 0, id: trackId, is_default_name: false, name: track.name, type: track.type, segments };
  });

  const platform = { app_id: CAPCUT_TARGET.app_id, app_source: CAPCUT_TARGET.app_source, app_version: CAPCUT_TARGET.app_version, os: CAPCUT_TARGET.os };
  const content: Json = {
    canvas_config: { height: draft.canvas.height, ratio: 'original', width: draft.canvas.width },
    color_space: 0,
    config: {
      adjust_max_index: 1,
      attachment_info: [],
      combination_max_index: 1,
      export_range: null,
      extract_audio_last_index: 1,
      lyrics_recognition_id: '',
      lyrics_sync: true,
      lyrics_taskinfo: [],
      maintrack_adsorb: true,
      material_save_mode: 0,
      multi_language_current: 'none',
      multi_language_list: [],
      multi_language_main: 'none',
      multi_language_mode: 'none',
      original_sound_last_index: 1,
      record_audio_last_index: 1,
      sticker_max_index: 1,
      subtitle_keywords_config: null,
      subtitle_recognition_id: '',
      subtitle_sync: true,
      subtitle_taskinfo: [],
      system_font_list: [],
      video_mute: false,
      zoom_info_params: null,
    },
    cover: null,
    create_time: Math.floor(input.createdAtMs / 1000),
    duration: draft.duration_us,
    extra_info: null,
    fps: draft.canvas.fps,
    free_render_index_mode_on: false,
    group_container: null,
    id: id('draft'),
    keyframe_graph_list: [],
    keyframes: { adjusts: [], audios: [], effects: [], filters: [], handwrites: [], stickers: [], texts: [], videos: [] },
    last_modified_platform: platform,
    platform,
    materials: lists,
    mutable_config: null,
    name: input.folderName,
    new_version: CAPCUT_TARGET.new_version,
    relationships: [],
    render_index_track_mode_on: false,
    retouch_cover: null,
    source: 'default',
    static_cover_image_path: '',
    time_marks: null,
    tracks,
    update_time: Math.floor(input.createdAtMs / 1000),
    version: CAPCUT_TARGET.version,
  };

  const local = input.mediaRoot !== DRAFT_PATH_PLACEHOLDER;
  const meta: Json = {
    cloud_package_completed_time: '',
    draft_cloud_capcut_purchase_info: '',
    draft_cloud_last_action_download: false,
    draft_cloud_materials: [],
    draft_cloud_purchase_info: '',
    draft_cloud_template_id: '',
    draft_cloud_tutorial_info: '',
    draft_cloud_videocut_purchase_info: '',
    draft_cover: '',
    draft_deeplink_url: '',
    draft_enterprise_info: { draft_enterprise_extra: '', draft_enterprise_id: '', draft_enterprise_name: '', enterprise_material: [] },
    draft_fold_path: local ? input.mediaRoot : '',
    draft_id: id('draft'),
    draft_is_ai_packaging_used: false,
    draft_is_ai_shorts: false,
    draft_is_ai_translate: false,
    draft_is_article_video_draft: false,
    draft_is_from_deeplink: 'false',
    draft_is_invisible: false,
    draft_materials: [{ type: 0, value: metaMedia }, ...[1, 2, 3, 6, 7, 8].map((type) => ({ type, value: [] }))],
    draft_materials_copied_info: [],
    draft_name: input.folderName,
    draft_new_version: '',
    draft_removable_storage_device: '',
    draft_root_path: local ? input.mediaRoot.slice(0, input.mediaRoot.lastIndexOf('/')) : '',
    draft_segment_extra_info: [],
    draft_type: '',
    tm_draft_cloud_completed: '',
    tm_draft_cloud_modified: 0,
    tm_draft_create: input.createdAtMs * 1000,
    tm_draft_modified: input.createdAtMs * 1000,
    tm_draft_removed: 0,
    tm_duration: draft.duration_us,
  };
  return { content, meta };
}

/** `{creator_id}_{video_id}_{task_id}`: unique per task, readable in the editor's draft list. */
export function capcutFolderName(a: { creatorId: string; videoId: string; taskId: string }): string {
  return `${a.creatorId}_${a.videoId}_${a.taskId}`;
}
