import { Hono, type Context } from 'hono';
import { InvalidRequestError } from '../../shared/errors.js';
import { MediaRejectedError } from '../../shared/media/media-errors.js';
import { mediaFileName, type MediaFolder } from '../../shared/media/media-name.js';
import { deleteSourceMedia, listSourceMedia, presignSourceMediaUpload, uploadSourceMedia } from '../../shared/media/source-media-store.js';
import { assertId } from '../../shared/request.js';
import type { Runtime } from '../../shared/runtime.js';

/**
 * The creator's media for a video (docs/media.md): `PUT …/media/{file_name}` (stills, clips),
 * `PUT …/music/{file_name}`, `DELETE` either, and `GET /sources/{creator_id}/{video_id}` listing
 * the source text, media and music with their probed facts. Mounted by the API app.
 */
/** The file name as sent: the path's last segment, percent-decoded; malformed encoding is refused, not kept raw. */
function decodedLastSegment(url: string): string {
  const raw = new URL(url).pathname.split('/').pop() ?? '';
  try {
    return decodeURIComponent(raw);
  } catch {
    throw new MediaRejectedError('invalid_file_name', 'The file name is not valid percent-encoded UTF-8; encode it with encodeURIComponent.');
  }
}

export function sourceMediaRoutes(rt: Runtime, base: string) {
  const app = new Hono();
  const refuse = (c: Context, error: unknown) => {
    if (error instanceof MediaRejectedError) {
      // A body refused part-way is not read to its end: the connection cannot be reused.
      if (error.code === 'file_too_large') c.header('connection', 'close');
      return c.json({ error: error.code, message: error.message }, error.status as 400);
    }
    if (error instanceof InvalidRequestError) return c.json({ error: error.code, message: error.message, details: error.details }, 400);
    throw error;
  };
  const fileOf = (c: Context, folder: MediaFolder) => {
    const creatorId = c.req.param('creator_id') ?? '';
    const videoId = c.req.param('video_id') ?? '';
    assertId('creator_id', creatorId);
    assertId('video_id', videoId);
    return { creatorId, videoId, folder, fileName: mediaFileName(folder, decodedLastSegment(c.req.url)) };
  };
  const contentLength = (c: Context) => {
    const raw = c.req.header('content-length');
    return raw !== undefined && /^\d+$/.test(raw) ? Number(raw) : undefined;
  };

  for (const folder of ['media', 'music'] as const) {
    const route = `${base}/sources/:creator_id/:video_id/${folder}/:file_name`;
    app.put(route, async (c) => {
      try {
        const file = fileOf(c, folder);
        if (rt.settings.mediaUpload === 'presigned') {
          const post = await presignSourceMediaUpload(rt, { ...file, contentLength: contentLength(c) });
          const { key, max_bytes, ...form } = post;
          return c.json({ key, file_name: file.fileName, folder, upload: { method: 'POST', ...form, max_bytes } }, 200);
        }
        const stored = await uploadSourceMedia(rt, { ...file, body: c.req.raw.body, contentLength: contentLength(c) });
        // The same shape as a file in the listing.
        return c.json({ key: stored.key, folder, file_name: file.fileName, size: stored.size, facts: stored.facts }, stored.replaced ? 200 : 201);
      } catch (error: unknown) {
        return refuse(c, error);
      }
    });
    app.delete(route, async (c) => {
      try {
        const file = fileOf(c, folder);
        if (!(await deleteSourceMedia(rt, file))) {
          return c.json({ error: 'media_not_found', message: `There is no ${folder}/${file.fileName} for ${file.creatorId}/${file.videoId}.` }, 404);
        }
        return c.body(null, 204);
      } catch (error: unknown) {
        return refuse(c, error);
      }
    });
  }

  app.get(`${base}/sources/:creator_id/:video_id`, async (c) => {
    try {
      const creatorId = c.req.param('creator_id');
      const videoId = c.req.param('video_id');
      assertId('creator_id', creatorId);
      assertId('video_id', videoId);
      const listed = await listSourceMedia(rt, { creatorId, videoId });
      return c.json({ creator_id: creatorId, video_id: videoId, ...listed });
    } catch (error: unknown) {
      return refuse(c, error);
    }
  });
  return app;
}
