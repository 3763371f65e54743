import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApiClient, ApiError, fileBody, type ApiAnswer } from './api-client.js';

export type MediaFolder = 'media' | 'music';

export interface UploadedFile {
  folder: MediaFolder;
  file_name: string;
  key: string;
  size: number;
  /** how the bytes travelled: through the API, or straight to S3 with the API's presigned form */
  via: 'api' | 'presigned-post';
}

interface PresignedForm {
  method: 'POST';
  url: string;
  fields: Record<string, string>;
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(path), hash);
  return hash.digest('hex');
}

/**
 * Uploads one still, clip or music file for a creator+video through
 * `PUT /api/pipeline/sources/{c}/{v}/{media|music}/{name}` (docs/media.md). The API either takes
 * the bytes (`MEDIA_UPLOAD=stream`) or answers with a presigned POST form
 * (`MEDIA_UPLOAD=presigned`), which is then followed: the file goes straight to S3.
 *
 * A signed client (API Gateway, which carries at most ~10 MB a request and whose stack runs
 * `presigned`) asks for the form first with an empty PUT and streams through the API only if
 * that API answers `empty_file` (it takes bodies).
 */
export async function uploadSourceMedia(
  client: ApiClient,
  a: { creatorId: string; videoId: string; folder: MediaFolder; path: string; signed: boolean },
): Promise<UploadedFile> {
  const name = basename(a.path);
  const size = (await stat(a.path)).size;
  const target = client.url(`api/pipeline/sources/${a.creatorId}/${a.videoId}/${a.folder}/${encodeURIComponent(name)}`);
  let answer: ApiAnswer;
  if (a.signed) {
    try {
      answer = await client.call('PUT', target);
    } catch (error: unknown) {
      if (!(error instanceof ApiError && error.code === 'empty_file')) throw error;
      answer = await client.call('PUT', target, {
        body: fileBody(a.path, size, { sha256: await fileSha256(a.path), contentType: 'application/octet-stream' }),
      });
    }
  } else {
    answer = await client.call('PUT', target, { body: fileBody(a.path, size, { contentType: 'application/octet-stream' }) });
  }
  const stored = answer.json as { key: string; file_name?: string; size?: number; upload?: PresignedForm };
  const fileName = stored.file_name ?? name;
  if (!stored.upload) return { folder: a.folder, file_name: fileName, key: stored.key, size: stored.size ?? size, via: 'api' };
  await postPresignedForm(client, stored.upload, a.path, size, name);
  return { folder: a.folder, file_name: fileName, key: stored.key, size, via: 'presigned-post' };
}

/** multipart/form-data: every field, then the file as the last part named `file`, streamed with an exact length. */
async function postPresignedForm(client: ApiClient, form: PresignedForm, path: string, size: number, name: string): Promise<void> {
  const boundary = `----reel${randomBytes(12).toString('hex')}`;
  const fieldParts = Object.entries(form.fields)
    .map(([k, v]) => `--${boundary}\r\ncontent-disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`)
    .join('');
  const head = Buffer.from(
    `${fieldParts}--${boundary}\r\ncontent-disposition: form-data; name="file"; filename="${encodeURIComponent(name)}"\r\ncontent-type: application/octet-stream\r\n\r\n`,
  );
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`);
  const open = () =>
    Readable.from(
      (async function* () {
        yield head;
        for await (const chunk of createReadStream(path)) yield chunk as Buffer;
        yield tail;
      })(),
    );
  const res = await client.send('POST', new URL(form.url), {
    unsigned: true,
    body: { open, length: head.length + size + tail.length, contentType: `multipart/form-data; boundary=${boundary}` },
  });
  const chunks: Buffer[] = [];
  for await (const chunk of res) chunks.push(chunk as Buffer);
  const status = res.statusCode ?? 0;
  if (status >= 300) {
    const text = Buffer.concat(chunks).toString('utf8');
    const code = /<Code>([^<]+)<\/Code>/.exec(text)?.[1] ?? `http_${status}`;
    const message = /<Message>([^<]+)<\/Message>/.exec(text)?.[1] ?? `S3 answered ${status} to the upload of ${name}.`;
    throw new ApiError(status, code, `The upload of ${name} was refused by S3: ${message}`, {});
  }
}
