import type { SubtitleStylePreset, VisualFit } from './draft/draft.js';

/**
 * What the request says about the look and sound of the video. Filled with defaults at
 * submission and carried in the execution input (`video_options`) to the stages that build the
 * timeline, so a redrive or a resume builds the same video.
 */
export interface VideoOptions {
  /** how landscape (or any non-9:16) material fills the frame */
  visual_fit: VisualFit;
  /** caption preset */
  subtitle_style: SubtitleStylePreset;
  /**
   * background music: a file name under `sources/<creator>/<video>/music/`, `null` for none, or
   * absent for the first file there in name order (none if the folder is empty)
   */
  music?: string | null;
  /** gain of the music, 0–1 (before ducking under speech) */
  music_volume: number;
  /** gain of the clips' own sound, 0–1 (0: muted) */
  source_audio_volume: number;
}

export const DEFAULT_VIDEO_OPTIONS: VideoOptions = {
  // Landscape footage shown whole over a blurred copy of itself: nothing the creator filmed is
  // cropped away; portrait material fills the frame either way.
  visual_fit: 'blur',
  // The short-video look (bold, outlined) rather than the old plain captions.
  subtitle_style: 'bold_outline',
  music_volume: 0.5,
  source_audio_volume: 0,
};

/**
 * The plan of a task whose story watched the footage (`tasks/<id>/visual-plan.json`, written by
 * the Story stage, read by the Draft stage): one entry per narration sentence, in the order of
 * `story.txt`, naming the clip and the part of it the sentence describes.
 */
export interface VisualPlan {
  version: 1;
  /** who made the plan, e.g. `gemini` */
  source: string;
  sentences: VisualPlanSentence[];
}

export interface VisualPlanSentence {
  /** the sentence as in `story.txt` */
  text: string;
  /** a file name under `sources/<creator>/<video>/media/` (a clip) */
  clip: string;
  /** the range of the clip the sentence describes, milliseconds */
  start_ms: number;
  end_ms: number;
}
