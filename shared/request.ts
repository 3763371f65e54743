import { z } from 'zod';
import { SUBTITLE_STYLES, type VisualFit } from './draft/draft.js';
import { InvalidRequestError } from './errors.js';
import { MediaRejectedError } from './media/media-errors.js';
import { mediaFileName } from './media/media-name.js';
import { DEFAULT_VIDEO_OPTIONS, type VideoOptions } from './video-options.js';

/** Ids that become part of keys: nothing that can escape a key prefix. */
export const ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** Display names: any script's letters and digits (Chinese account names are normal). */
export const ACCOUNT_NAME_PATTERN = /^[\p{L}\p{N}_-]{1,64}$/u;
export const MAX_SOURCE_TEXT_CHARS = 50_000;
/** Old clients send CJK as `\uXXXX` (6 bytes a character): 50,000 chars fit in 1 MiB. */
export const MAX_BODY_BYTES = 1024 * 1024;

/** How non-9:16 material fills the frame (`visual_fit`): see {@link VideoOptions}. */
export const VISUAL_FITS = ['cover', 'blur'] as const satisfies readonly VisualFit[];

/** A gain from 0 (silent) to 1 (as recorded), e.g. `music_volume`. */
const gain = (field: string) =>
  z
    .number({ error: `${field} must be a number from 0 (silent) to 1 (full volume)` })
    .min(0, `${field} must be at least 0 (silent)`)
    .max(1, `${field} must be at most 1 (full volume)`)
    .optional();

/** `music`: a file name under the video's `music/` folder, with the upload routes' name rules, or null for none. */
const musicName = z
  .union([z.string(), z.null()], { error: 'music must be the name of a file under music/ (a string), or null for no music' })
  .transform((value, ctx) => {
    if (value === null) return null;
    try {
      return mediaFileName('music', value);
    } catch (error: unknown) {
      if (!(error instanceof MediaRejectedError)) throw error;
      ctx.addIssue({ code: 'custom', message: error.message.replace(/\.$/, '') });
      return z.NEVER;
    }
  })
  .optional();

const id = (field: string) =>
  z
    .string({ error: (iss) => (iss.input === undefined ? `${field} is required` : `${field} must be a string`) })
    .regex(ID_PATTERN, `${field} must be 1-64 characters of A-Z, a-z, 0-9, "_" or "-"`);

export const runRequestSchema = z.strictObject(
  {
    creator_id: id('creator_id'),
    video_id: id('video_id'),
    account_name: z
      .string({ error: 'account_name must be a string' })
      .regex(ACCOUNT_NAME_PATTERN, 'account_name must be 1-64 letters, digits, "_" or "-"')
      .optional(),
    gender: z
      .union([z.literal(0), z.literal(1), z.literal(2)], {
        error: 'gender must be 0 (provider default), 1 (male) or 2 (female)',
      })
      .default(0),
    export_video: z.boolean({ error: 'export_video must be true or false' }).default(true),
    source_text: z
      .string({ error: 'source_text must be a string' })
      .max(MAX_SOURCE_TEXT_CHARS, `source_text must be at most ${MAX_SOURCE_TEXT_CHARS} characters`)
      .refine((s) => s.trim().length > 0, 'source_text must not be empty')
      .optional(),
    visual_fit: z
      .enum(VISUAL_FITS, { error: `visual_fit must be one of ${VISUAL_FITS.map((v) => `"${v}"`).join(', ')} (how landscape material fills the 9:16 frame)` })
      .optional(),
    subtitle_style: z.enum(SUBTITLE_STYLES, { error: `subtitle_style must be one of ${SUBTITLE_STYLES.map((v) => `"${v}"`).join(', ')}` }).optional(),
    music: musicName,
    music_volume: gain('music_volume'),
    source_audio_volume: gain('source_audio_volume'),
    webhook_url: z
      .string({ error: 'webhook_url must be a string' })
      .max(2048, 'webhook_url must be at most 2048 characters')
      .refine((s) => /^https?:\/\/[^/?#]/i.test(s) && URL.canParse(s), 'webhook_url must be an absolute http(s) URL such as https://hooks.example.com/reel')
      .optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field(s): ${iss.keys.join(', ')}` : 'the body must be a JSON object') },
);

export type RunRequest = z.infer<typeof runRequestSchema>;

/**
 * The look and sound a request asks for, every field the request leaves out taken from
 * {@link DEFAULT_VIDEO_OPTIONS}. `music` stays absent unless the request names a file or null
 * (absent: the first file under `music/`, chosen by the Draft stage).
 */
export function videoOptionsOf(request: RunRequest): VideoOptions {
  return {
    visual_fit: request.visual_fit ?? DEFAULT_VIDEO_OPTIONS.visual_fit,
    subtitle_style: request.subtitle_style ?? DEFAULT_VIDEO_OPTIONS.subtitle_style,
    ...(request.music !== undefined ? { music: request.music } : {}),
    music_volume: request.music_volume ?? DEFAULT_VIDEO_OPTIONS.music_volume,
    source_audio_volume: request.source_audio_volume ?? DEFAULT_VIDEO_OPTIONS.source_audio_volume,
  };
}

export interface ValidationDetail {
  field: string;
  problem: string;
}

/**
 * The body of `POST /api/pipeline/tasks/retry`: which ended tasks to redrive. `since` is an ISO
 * time (tasks created at or after it); `cursor` continues where the previous answer stopped.
 */
export const retryFilterSchema = z.strictObject(
  {
    status: z.enum(['FAILED', 'CANCELLED'], { error: 'status must be FAILED or CANCELLED' }).default('FAILED'),
    error_code: z
      .string({ error: 'error_code must be a string' })
      .regex(/^[a-z0-9_]{1,64}$/, 'error_code must be 1-64 characters of a-z, 0-9 or "_" (e.g. gemini_quota_exhausted)')
      .optional(),
    creator_id: id('creator_id').optional(),
    since: z.iso
      .datetime({ offset: true, error: 'since must be an ISO 8601 time such as 2026-12-01T00:00:00Z' })
      .transform((value) => new Date(value).toISOString())
      .optional(),
    cursor: z.string({ error: 'cursor must be a string' }).max(2048, 'cursor must be at most 2048 characters').optional(),
  },
  { error: (iss) => (iss.code === 'unrecognized_keys' ? `unknown field(s): ${iss.keys.join(', ')}` : 'the body must be a JSON object') },
);

export type RetryFilter = z.infer<typeof retryFilterSchema>;

/** Validates the body of the filter retry; throws {@link InvalidRequestError} like {@link parseRunRequest}. */
export function parseRetryFilter(body: unknown): RetryFilter {
  return parseWith(retryFilterSchema, body);
}

/**
 * Validates a parsed JSON body. Throws {@link InvalidRequestError} with one sentence and a
 * per-field list.
 */
export function parseRunRequest(body: unknown): RunRequest {
  return parseWith(runRequestSchema, body);
}

function parseWith<S extends z.ZodType>(schema: S, body: unknown): z.infer<S> {
  const result = schema.safeParse(body);
  if (result.success) return result.data;
  const details: ValidationDetail[] = result.error.issues.map((issue) => ({
    field: issue.path.length ? issue.path.map(String).join('.') : '(body)',
    problem: issue.message,
  }));
  const summary = details.map((d) => (d.field === '(body)' ? d.problem : `${d.field}: ${d.problem}`)).join('; ');
  throw new InvalidRequestError(`The request is not valid: ${summary}.`, details);
}

/** Validates a single id from a URL path the same way as in a body. */
export function assertId(field: string, value: string): void {
  if (!ID_PATTERN.test(value)) {
    throw new InvalidRequestError(`${field} must be 1-64 characters of A-Z, a-z, 0-9, "_" or "-".`, [{ field, problem: 'invalid id' }]);
  }
}
