import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  NotFound,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
} from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { ARTIFACT, ATTEMPTS_DIR, taskArtifactKey, taskPrefix } from './keys.js';
import type { Runtime } from './runtime.js';
import type { ArtifactEntry, TaskRecord } from './task-record.js';

/** Object storage for sources and task artifacts (S3, or the embedded S3 emulator). */
export async function putObject(rt: Runtime, key: string, body: string | Uint8Array, contentType: string): Promise<void> {
  await rt.s3.send(new PutObjectCommand({ Bucket: rt.settings.bucketName, Key: key, Body: body, ContentType: contentType }));
}

/** The stream ended short of, or ran past, the length announced for it: nothing is stored. */
export class ObjectLengthMismatchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ObjectLengthMismatchError';
  }
}

/**
 * Part size of a streamed upload, and so the most of it held in memory at once (S3's minimum part
 * is 5 MiB; 10,000 parts of 8 MiB allow 78 GiB).
 */
export const UPLOAD_PART_BYTES = 8 * 1024 * 1024;

/**
 * Stores a byte stream without holding it whole in memory: a multipart upload of
 * {@link UPLOAD_PART_BYTES} parts (one plain PutObject when it is smaller than a part). The object
 * appears only when the upload completes, so a stream that breaks, a length other than the
 * announced `contentLength` or an aborted signal leaves nothing under the key — a single PutObject
 * with a stream body would not do that everywhere (S3-compatible stores such as s3rver keep the
 * bytes of a cut-off upload). Resolves with the number of bytes stored; the stream is destroyed
 * in any case.
 *
 * @example
 * const bytes = await putObjectStream(rt, { key: 'tasks/t/final_video.mp4', body, contentType: 'video/mp4', contentLength });
 */
export async function putObjectStream(
  rt: Runtime,
  a: { key: string; body: Readable; contentType: string; contentLength?: number; signal?: AbortSignal },
): Promise<number> {
  const target = { Bucket: rt.settings.bucketName, Key: a.key };
  const options = { abortSignal: a.signal };
  let uploadId: string | undefined;
  const parts: CompletedPart[] = [];
  // One part's buffer, filled and sent again and again: the SDK is done with it once UploadPart resolves.
  const part = Buffer.allocUnsafe(UPLOAD_PART_BYTES);
  let filled = 0;
  let total = 0;
  const sendPart = async () => {
    uploadId ??= (await rt.s3.send(new CreateMultipartUploadCommand({ ...target, ContentType: a.contentType }), options)).UploadId;
    const partNumber = parts.length + 1;
    const body = part.subarray(0, filled);
    const out = await rt.s3.send(
      new UploadPartCommand({ ...target, UploadId: uploadId, PartNumber: partNumber, Body: body, ContentLength: body.length }),
      options,
    );
    parts.push({ PartNumber: partNumber, ETag: out.ETag });
    filled = 0;
  };
  const mismatch = (what: string) => new ObjectLengthMismatchError(`${a.key}: ${what} the announced ${a.contentLength} bytes.`);
  try {
    for await (const chunk of a.body) {
      const bytes = chunk as Uint8Array;
      total += bytes.length;
      if (a.contentLength !== undefined && total > a.contentLength) throw mismatch('more bytes than');
      for (let offset = 0; offset < bytes.length;) {
        const take = Math.min(bytes.length - offset, UPLOAD_PART_BYTES - filled);
        part.set(bytes.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled === UPLOAD_PART_BYTES) await sendPart();
      }
    }
    if (a.signal?.aborted) throw a.signal.reason;
    if (a.contentLength !== undefined && total !== a.contentLength) throw mismatch(`the stream ended after ${total} of`);
    if (uploadId === undefined) {
      await rt.s3.send(new PutObjectCommand({ ...target, Body: part.subarray(0, filled), ContentType: a.contentType }), options);
      return total;
    }
    if (filled > 0) await sendPart();
    await rt.s3.send(new CompleteMultipartUploadCommand({ ...target, UploadId: uploadId, MultipartUpload: { Parts: parts } }), options);
    return total;
  } catch (error: unknown) {
    // The parts of an unfinished upload are billed until it is aborted; the bucket's lifecycle
    // rule (abort-incomplete-uploads) removes any whose abort fails here.
    if (uploadId !== undefined) await rt.s3.send(new AbortMultipartUploadCommand({ ...target, UploadId: uploadId })).catch(() => undefined);
    throw error;
  } finally {
    // A no-op once it was read to its end; otherwise it frees the connection it reads from.
    a.body.destroy();
  }
}

function isMissing(error: unknown): boolean {
  if (error instanceof NoSuchKey || error instanceof NotFound) return true;
  const status = (error as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
  return status === 404;
}

/** The object's bytes, or undefined when it does not exist. */
export async function getObjectBytes(rt: Runtime, key: string): Promise<Uint8Array | undefined> {
  try {
    const out = await rt.s3.send(new GetObjectCommand({ Bucket: rt.settings.bucketName, Key: key }));
    return out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
  } catch (error: unknown) {
    if (isMissing(error)) return undefined;
    throw error;
  }
}

export async function getObjectText(rt: Runtime, key: string): Promise<string | undefined> {
  const bytes = await getObjectBytes(rt, key);
  return bytes === undefined ? undefined : Buffer.from(bytes).toString('utf8');
}

export async function objectExists(rt: Runtime, key: string): Promise<boolean> {
  try {
    await rt.s3.send(new HeadObjectCommand({ Bucket: rt.settings.bucketName, Key: key }));
    return true;
  } catch (error: unknown) {
    if (isMissing(error)) return false;
    throw error;
  }
}

export async function listKeys(rt: Runtime, prefix: string): Promise<Array<{ key: string; size: number }>> {
  const out: Array<{ key: string; size: number }> = [];
  let token: string | undefined;
  do {
    const page = await rt.s3.send(new ListObjectsV2Command({ Bucket: rt.settings.bucketName, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, size: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** A short-lived URL for GET of one object (exporters and API clients fetch media with it). */
export async function presignGet(rt: Runtime, key: string, seconds = rt.settings.presignSeconds): Promise<string> {
  return getSignedUrl(rt.s3, new GetObjectCommand({ Bucket: rt.settings.bucketName, Key: key }), { expiresIn: seconds });
}

/**
 * The task's artifacts as readers see them, without content: every object under its prefix
 * except staged attempts (`attempts/`), plus the committed video under its public name
 * `final_video.mp4`. A video a stale lock holder uploaded but could not commit is not among them.
 */
export async function listTaskArtifacts(
  rt: Runtime,
  task: Pick<TaskRecord, 'task_id' | 'final_video_key'>,
): Promise<Array<{ name: string; key: string; size: number }>> {
  const prefix = taskPrefix(task.task_id);
  const out: Array<{ name: string; key: string; size: number }> = [];
  for (const o of await listKeys(rt, prefix)) {
    const name = o.key.slice(prefix.length);
    if (name.startsWith(ATTEMPTS_DIR)) {
      if (o.key === task.final_video_key) out.push({ name: ARTIFACT.finalVideo, key: o.key, size: o.size });
      continue;
    }
    out.push({ name, key: o.key, size: o.size });
  }
  return out;
}

/**
 * The object key behind an artifact name: from the manifest when the task has one, the
 * committed video for `final_video.mp4`, else the name under the task's prefix. Undefined for
 * names that are no artifact (staged attempts, an uncommitted video).
 */
export function artifactObjectKey(task: Pick<TaskRecord, 'task_id' | 'final_video_key' | 'artifacts'>, name: string): string | undefined {
  const listed = task.artifacts?.find((a) => a.name === name);
  if (listed) return listed.key;
  if (name === ARTIFACT.finalVideo) return task.final_video_key;
  if (name.startsWith(ATTEMPTS_DIR)) return undefined;
  return taskArtifactKey(task.task_id, name);
}

/** Size and sha256 of an object, read as a stream; undefined when it does not exist. */
async function streamSha256(rt: Runtime, key: string): Promise<{ size: number; sha256: string } | undefined> {
  let body: Readable;
  try {
    const out = await rt.s3.send(new GetObjectCommand({ Bucket: rt.settings.bucketName, Key: key }));
    if (!out.Body) return { size: 0, sha256: createHash('sha256').digest('hex') };
    body = out.Body as Readable;
  } catch (error: unknown) {
    if (isMissing(error)) return undefined;
    throw error;
  }
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of body) {
    hash.update(chunk as Uint8Array);
    size += (chunk as Uint8Array).length;
  }
  return { size, sha256: hash.digest('hex') };
}

/**
 * Lists every artifact of the task ({@link listTaskArtifacts}) with its size and sha256 (the
 * manifest itself and the log, which is appended after the manifest, excluded).
 */
export async function buildManifest(rt: Runtime, task: Pick<TaskRecord, 'task_id' | 'final_video_key'>): Promise<ArtifactEntry[]> {
  const taskId = task.task_id;
  const keys = (await listTaskArtifacts(rt, task)).filter(
    (o) => o.key !== taskArtifactKey(taskId, ARTIFACT.manifest) && o.key !== taskArtifactKey(taskId, ARTIFACT.log),
  );
  const entries: ArtifactEntry[] = [];
  for (const o of keys) {
    // Hashed as it streams: a task's artifacts include its clips (in the editor draft) and their archive.
    const digest = await streamSha256(rt, o.key);
    if (!digest) continue;
    entries.push({ name: o.name, key: o.key, size: digest.size, sha256: digest.sha256 });
  }
  return entries.sort((a, b) => a.name.localeCompare(b.name));
}
