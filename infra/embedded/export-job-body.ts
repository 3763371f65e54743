/**
 * The body of `PUT /jobs/{task_id}` on the embedded export service: `{draft, media}`, checked
 * before anything is downloaded. Loose objects: a newer draft's extra fields pass through.
 */
import { z } from 'zod';

const hexColor = z.string().regex(/^#[0-9a-fA-F]{6}$/);
const timeRange = z.looseObject({ start_us: z.number().min(0), duration_us: z.number().min(0) });
const mediaSegment = z.looseObject({ id: z.string(), material_id: z.string(), target: timeRange, source: timeRange.optional() });
const draftSchema = z.looseObject({
  version: z.literal(1),
  task_id: z.string(),
  canvas: z.looseObject({ width: z.number().int().positive(), height: z.number().int().positive(), fps: z.number().positive() }),
  duration_us: z.number().positive(),
  language: z.string(),
  materials: z.array(
    z.discriminatedUnion('type', [
      z.looseObject({ id: z.string(), type: z.literal('audio'), key: z.string(), content_type: z.string(), duration_us: z.number() }),
      z.looseObject({ id: z.string(), type: z.literal('generated_background'), colors: z.tuple([hexColor, hexColor]) }),
      z.looseObject({ id: z.string(), type: z.literal('image'), key: z.string(), content_type: z.string() }),
      z.looseObject({ id: z.string(), type: z.literal('video'), key: z.string(), content_type: z.string() }),
      z.looseObject({ id: z.string(), type: z.literal('subtitles'), key: z.string(), content_type: z.string() }),
    ]),
  ),
  tracks: z.array(
    z.discriminatedUnion('type', [
      z.looseObject({ type: z.literal('audio'), name: z.string(), segments: z.array(mediaSegment) }),
      z.looseObject({ type: z.literal('video'), name: z.string(), segments: z.array(mediaSegment) }),
      z.looseObject({ type: z.literal('text'), name: z.string(), segments: z.array(z.looseObject({ id: z.string(), text: z.string(), target: timeRange })) }),
    ]),
  ),
});

/** `{draft, media}`: the draft and an http(s) URL per material that has bytes. */
export const exportJobBodySchema = z.object({
  draft: draftSchema,
  media: z.record(z.string(), z.url({ protocol: /^https?$/ })),
});
