/**
 * The task's timeline as a CapCut / JianYing (剪映) draft folder, written by our own writer:
 *
 * ```
 * {creator_id}_{video_id}_{task_id}/
 *   draft_content.json      the timeline: materials, tracks, segments (µs)
 *   draft_meta_info.json    what the editor's draft list shows (name, duration, imported media)
 *   materials/narration.wav
 *   materials/01-<name>.jpg …  the stills, or materials/background.png (the generated background)
 * ```
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
import type { Draft, DraftMaterial, TextSegment } from './draft.js';

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

/** Subtitle look: white bold text with a black outline, centred, above the platforms' bottom overlay. */
const SUBTITLE_STYLE = { size: 6, transformY: -0.6, lineMaxWidth: 0.82, strokeWidth: 0.08 } as const;

const range = (start: number, duration: number) => ({ start, duration });

/** Scale that makes a `w`×`h` picture cover the canvas (JianYing's scale 1 fits it inside). */
function coverScale(w: number | undefined, h: number | undefined, canvas: { width: number; height: number }): number {
  if (!w || !h) return 1;
  const fit = Math.min(canvas.width / w, canvas.height / h);
  const cover = Math.max(canvas.width / w, canvas.height / h);
  return Math.round((cover / fit) * 10000) / 10000;
}

function baseSegment(a: { id: string; materialId: string; start: number; duration: number; renderIndex: number; refs: string[] }): Json {
  return {
    enable_adjust: true,
    enable_color_correct_adjust: false,
    enable_color_curves: true,
    enable_color_match_adjust: false,
    enable_color_wheels: true,
    enable_lut: true,
    enable_smart_color_adjust: false,
    last_nonzero_volume: 1.0,
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
    volume: 1.0,
    extra_material_refs: a.refs,
    is_tone_modify: false,
    render_index: a.renderIndex,
  };
}

function clip(scale: number, transformY = 0): Json {
  return {
    alpha: 1.0,
    flip: { horizontal: false, vertical: false },
    rotation: 0.0,
    scale: { x: scale, y: scale },
    transform: { x: 0.0, y: transformY },
  };
}

function textContent(text: string): string {
  return JSON.stringify({
    styles: [
      {
        fill: { alpha: 1.0, content: { render_type: 'solid', solid: { alpha: 1.0, color: [1.0, 1.0, 1.0] } } },
        // Style ranges count UTF-16 code units, as the editor's own text engine does.
        range: [0, text.length],
        size: SUBTITLE_STYLE.size,
        bold: true,
        italic: false,
        underline: false,
        strokes: [{ content: { solid: { alpha: 1.0, color: [0.0, 0.0, 0.0] } }, width: SUBTITLE_STYLE.strokeWidth }],
      },
    ],
    text,
  });
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

/**
 * `draft_content.json` and `draft_meta_info.json` of the task's draft, as objects.
 *
 * @throws RangeError when a segment's material has no file (a bug in the caller).
 */
export function buildCapcutDraft(input: CapcutDraftInput): { content: Json; meta: Json } {
  const { draft, files } = input;
  const id = (name: string) => stableDraftId(draft.task_id, name);
  const path = (file: CapcutMediaFile) => `${input.mediaRoot}/${file.path}`;
  const byId = new Map<string, DraftMaterial>(draft.materials.map((m) => [m.id, m]));
  const fileOf = (materialId: string) => {
    const file = files[materialId];
    if (!file) throw new RangeError(`material "${materialId}" has no file in the draft folder`);
    return file;
  };
  const lists: Record<string, Json[]> = Object.fromEntries(EMPTY_MATERIAL_LISTS.map((k) => [k, [] as Json[]]));
  const speedFor = (segmentId: string) => {
    const speedId = id(`speed/${segmentId}`);
    lists.speeds.push({ curve_speed: null, id: speedId, mode: 0, speed: 1.0, type: 'speed' });
    return speedId;
  };

  // Materials: one per draft.json material that has a file (pictures, the narration).
  const materialIds = new Map<string, string>();
  const metaMedia: Json[] = [];
  const createdS = Math.floor(input.createdAtMs / 1000);
  for (const m of draft.materials) {
    if (m.type === 'subtitles') continue; // the text track carries the cues
    const file = fileOf(m.id);
    const materialId = id(`material/${m.id}`);
    materialIds.set(m.id, materialId);
    const name = file.path.slice(file.path.lastIndexOf('/') + 1);
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
        duration: PHOTO_MATERIAL_US,
        height: file.height ?? draft.canvas.height,
        id: materialId,
        local_material_id: '',
        material_id: materialId,
        material_name: name,
        media_path: '',
        path: path(file),
        type: 'photo',
        width: file.width ?? draft.canvas.width,
      });
    }
    metaMedia.push({
      ai_group_type: '',
      create_time: createdS,
      duration: m.type === 'audio' ? m.duration_us : PHOTO_MATERIAL_US,
      enter_from: 0,
      extra_info: name,
      file_Path: path(file),
      height: file.height ?? 0,
      id: id(`import/${m.id}`),
      import_time: createdS,
      import_time_ms: input.createdAtMs * 1000,
      item_source: 1,
      md5: '',
      metetype: m.type === 'audio' ? 'music' : 'photo',
      roughcut_time_range: range(0, m.type === 'audio' ? m.duration_us : -1),
      sub_time_range: range(-1, -1),
      type: 0,
      width: file.width ?? 0,
    });
  }

  // Tracks, in draft.json's order; visual and audio segments point at the materials above.
  const tracks: Json[] = draft.tracks.map((track, t) => {
    const trackId = id(`track/${t}/${track.name}`);
    if (track.type === 'text') {
      return {
        attribute: 0,
        flag: 0,
        id: trackId,
        is_default_name: false,
        name: track.name,
        type: 'text',
        // A cue squeezed to nothing (two words at one instant) has no place on an editor's track.
        segments: clampCues(track.segments, draft.duration_us).map((seg: TextSegment) => {
          const textId = id(`text/${seg.id}`);
          lists.texts.push({
            id: textId,
            content: textContent(seg.text),
            typesetting: 0,
            alignment: 1,
            letter_spacing: 0.0,
            line_spacing: 0.02,
            line_feed: 1,
            line_max_width: SUBTITLE_STYLE.lineMaxWidth,
            force_apply_line_max_width: false,
            check_flag: 15,
            type: 'subtitle',
            global_alpha: 1.0,
          });
          const segmentId = id(`segment/${seg.id}`);
          return {
            ...baseSegment({
              id: segmentId,
              materialId: textId,
              start: seg.target.start_us,
              duration: seg.target.duration_us,
              renderIndex: 15000,
              refs: [speedFor(segmentId)],
            }),
            source_timerange: null,
            clip: clip(1.0, SUBTITLE_STYLE.transformY),
            uniform_scale: { on: true, value: 1.0 },
          };
        }),
      };
    }
    return {
      attribute: 0,
      flag: 0,
      id: trackId,
      is_default_name: false,
      name: track.name,
      type: track.type,
      segments: track.segments.map((seg) => {
        const material = byId.get(seg.material_id);
        const materialId = materialIds.get(seg.material_id);
        if (!material || !materialId) throw new RangeError(`segment "${seg.id}" refers to material "${seg.material_id}", which has no file`);
        const segmentId = id(`segment/${seg.id}`);
        const base = baseSegment({
          id: segmentId,
          materialId,
          start: seg.target.start_us,
          duration: seg.target.duration_us,
          renderIndex: 0,
          refs: [speedFor(segmentId)],
        });
        const source = seg.source ?? { start_us: 0, duration_us: seg.target.duration_us };
        if (track.type === 'audio') return { ...base, source_timerange: range(source.start_us, source.duration_us), clip: null, hdr_settings: null };
        const file = fileOf(seg.material_id);
        return {
          ...base,
          source_timerange: range(source.start_us, source.duration_us),
          clip: clip(coverScale(file.width, file.height, draft.canvas)),
          uniform_scale: { on: true, value: 1.0 },
          hdr_settings: { intensity: 1.0, mode: 1, nits: 1000 },
        };
      }),
    };
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
