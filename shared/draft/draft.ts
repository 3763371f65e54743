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

export type DraftMaterial = AudioMaterial | GeneratedBackgroundMaterial | ImageMaterial | SubtitleFileMaterial;

export interface MediaSegment {
  id: string;
  material_id: string;
  target: TimeRange;
  /** the part of the material that plays, for audio and video */
  source?: TimeRange;
}

export interface TextSegment {
  id: string;
  text: string;
  target: TimeRange;
}

export interface AudioTrack { type: 'audio'; name: string; segments: MediaSegment[] }
export interface VisualTrack { type: 'video'; name: string; segments: MediaSegment[] }
export interface TextTrack { type: 'text'; name: string; segments: TextSegment[] }
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
