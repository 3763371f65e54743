/**
 * Why a creator's media file is refused. One class, a stable `code` per reason and the HTTP status
 * the API answers with; the same codes name an `unusable` file in the listing and, later, in a
 * task's record when Draft leaves a presigned upload out.
 */
import { PipelineError } from '../errors.js';

/** The stable codes of a refused or unusable media file (docs/media.md lists each). */
export type MediaProblemCode =
  | 'invalid_file_name'
  | 'unsupported_extension'
  | 'empty_file'
  | 'file_too_large'
  | 'unsupported_media_type'
  | 'extension_mismatch'
  | 'too_many_pixels'
  | 'unreadable_media'
  | 'no_video_stream'
  | 'no_audio_stream'
  | 'zero_duration';

const STATUS: Record<MediaProblemCode, number> = {
  invalid_file_name: 400,
  unsupported_extension: 415,
  empty_file: 400,
  file_too_large: 413,
  unsupported_media_type: 415,
  extension_mismatch: 415,
  too_many_pixels: 422,
  unreadable_media: 422,
  no_video_stream: 422,
  no_audio_stream: 422,
  zero_duration: 422,
};

/** A media file that is refused at the door (or left out later), with a sentence for a person. */
export class MediaRejectedError extends PipelineError {
  declare readonly code: MediaProblemCode;
  /** the HTTP status the API answers with */
  readonly status: number;
  constructor(code: MediaProblemCode, message: string) {
    super(code, message);
    this.name = 'MediaRejectedError';
    this.status = STATUS[code];
  }
}
