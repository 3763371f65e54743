/**
 * The editing draft (`tasks/<id>/draft.json`): a versioned timeline in microseconds.
 * It carries references (material keys), never media bytes, so that an exporter can fetch
 * each material from wherever it lives (a presigned URL on AWS, the S3 emulator locally).
 */
export const DRAFT_VERSION = 1 as const;

export interface TimeRange {
  /** start on the timeline, microseconds */
  start_us: number;
  /** duration, microseconds */
  duration_us: number;
}

export interface AudioMaterial {
  id: string;
  type: 'audio';
  /** object key of the audio file in the artifact bucket */
  key: string;
  content_type: string;
  duration_us: number;
}

export interface GeneratedBackgroundMaterial {
  id: string;
  type: 'generated_background';
  /** two colours, top to bottom, as #rrggbb */
  colors: [string, string];
}

export interface ImageMaterial {
  id: string;
  type: 'image';
  key: string;
  content_type: string;
  /** pixel size, when known (optional; the renderer scales to cover the canvas either way) */
  width?: number;
  height?: number;
}

export interface SubtitleFileMaterial {
  id: string;
  type: 'subtitles';
  /** object key of the SRT file, built from the same cues as the text track */
  key: string;
  content_type: 'application/x-subrip';
}

/**
 * A video clip (the editor's `materials.videos[]` with `type: "video"`). Its segments say which
 * part plays (`source`) and where (`target`); the picture is shown upright (rotation metadata
 * is applied) at the canvas frame rate, whatever the clip's own (also variable) rate.
 */
export interface VideoMaterial {
  id: string;
  type: 'video';
  key: string;
  content_type: string;
  /** probed facts, when known (the renderer probes the file itself either way) */
  width?: number;
  height?: number;
  duration_us?: number;
}

export type DraftMaterial = AudioMaterial | GeneratedBackgroundMaterial | ImageMaterial | VideoMaterial | SubtitleFileMaterial;

/** How a picture that is not 9:16 fills the canvas. */
export type VisualFit =
  /** scaled to cover the canvas, the overflow cropped (centred) */
  | 'cover'
  /** shown whole, centred, over a blurred copy of itself that covers the canvas */
  | 'blur';

/**
 * Where the frame looks at one moment of a still's motion (Ken Burns). `scale` ≥ 1 is the zoom
 * over the covering size; `x`, `y` in [-1, 1] place the visible window inside the room the zoom
 * leaves (-1 left/top edge, 0 centred, 1 right/bottom edge). The editor's keyframes carry the
 * same numbers as scale and position.
 */
export interface MotionFrame {
  scale: number;
  x: number;
  y: number;
}

/** A cross-fade into a segment from the one before it (the editor's overlapping transition). */
export interface SegmentTransition {
  type: 'fade';
  /**
   * Length of the fade, microseconds. The fade is centred on the segments' boundary (the
   * boundary is the fade's midpoint): it starts `duration_us / 2` before this segment's
   * `target.start_us` and ends as long after it.
   */
  duration_us: number;
}

/** A point of an audio segment's volume envelope (the editor's volume keyframes). */
export interface VolumeKeyframe {
  /** from the segment's `target.start_us`, microseconds */
  offset_us: number;
  /** gain, 0–1 (linear between keyframes, held before the first and after the last) */
  volume: number;
}

export interface MediaSegment {
  id: string;
  material_id: string;
  target: TimeRange;
  /** the part of the material that plays, for audio and video */
  source?: TimeRange;
  /** visual segments: how a picture that is not 9:16 fills the canvas (default `cover`) */
  fit?: VisualFit;
  /** image segments: the motion from the first frame to the last (none: a still picture) */
  motion?: { start: MotionFrame; end: MotionFrame };
  /** visual segments: a cross-fade from the previous segment of the track */
  transition_in?: SegmentTransition;
  /**
   * gain of the segment's sound, 0–1: audio segments default 1, video segments default 0 (a
   * clip's own sound is muted unless the request asks for it)
   */
  volume?: number;
  /** audio segments: the volume envelope (e.g. music ducked under speech), multiplied with `volume` */
  volume_keyframes?: VolumeKeyframe[];
  /** audio segments: fade-in / fade-out lengths, microseconds */
  fade_in_us?: number;
  fade_out_us?: number;
}

/** One spoken word of a caption, on the timeline (for the word-by-word highlight). */
export interface CaptionWord {
  text: string;
  target: TimeRange;
}

export interface TextSegment {
  id: string;
  text: string;
  target: TimeRange;
  /** the words as they are spoken, in order (the `word_highlight` style lights each in turn) */
  words?: CaptionWord[];
}

/** Caption presets (the request's `subtitle_style`). */
export const SUBTITLE_STYLES = ['plain', 'bold_outline', 'boxed', 'word_highlight'] as const;
export type SubtitleStylePreset = (typeof SUBTITLE_STYLES)[number];
/** Where captions sit in the 9:16 frame, clear of the platforms' overlays. */
export const SUBTITLE_POSITIONS = ['bottom', 'middle', 'top'] as const;
export type SubtitlePosition = (typeof SUBTITLE_POSITIONS)[number];

export interface AudioTrack {
  type: 'audio';
  name: string;
  segments: MediaSegment[];
}
export interface VisualTrack {
  type: 'video';
  name: string;
  segments: MediaSegment[];
}
export interface TextTrack {
  type: 'text';
  name: string;
  segments: TextSegment[];
  /** caption preset; default `plain` (today's white bold text with a thin outline) */
  style?: SubtitleStylePreset;
  /** default `bottom` */
  position?: SubtitlePosition;
}
export type DraftTrack = AudioTrack | VisualTrack | TextTrack;

export interface Draft {
  version: typeof DRAFT_VERSION;
  task_id: string;
  canvas: { width: number; height: number; fps: number };
  /** total length of the timeline, microseconds: the narration's length */
  duration_us: number;
  /** language of the narration, e.g. `cmn` or `en` (picks the subtitle font) */
  language: string;
  materials: DraftMaterial[];
  tracks: DraftTrack[];
  /** the editor draft folder of the same timeline, for exporters that open it (JianYing/CapCut) */
  editor_draft?: {
    format: string;
    /** the folder's name, `{creator_id}_{video_id}_{task_id}` */
    folder: string;
    /** object key of a gzipped tar whose top-level directory is the folder */
    archive_key: string;
  };
}
