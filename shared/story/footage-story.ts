/**
 * The story that watches the footage: the video's clips under `sources/<creator>/<video>/media/`
 * go to the Gemini Files API (streamed from the object store), and once Gemini has processed them
 * it is asked for a narration whose sentences each name a clip and a time range.
 *
 * Uploads and the wait until the files are ACTIVE can take longer than a stage should run, so the
 * stage keeps a ledger of what it uploaded (`tasks/<id>/gemini-files.json`) and hands long waits
 * back to the state machine (the rate-limit Wait loop):
 *
 *   attempt 1: list + probe clips → upload a (ledger) → upload b (ledger) → poll: PROCESSING …
 *              budget GEMINI_FILE_WAIT_SECONDS spent → {rate_limited, retry_after_seconds}
 *   (Wait GEMINI_FILE_POLL_SECONDS)
 *   attempt 2: ledger: a, b uploaded, not expired → poll: ACTIVE → generateContent → plan
 *
 * A re-run after the Wait, a Retry and a redrive all read the same ledger, so nothing is uploaded
 * twice; a file is uploaded again only when Gemini no longer has it or it expires within the hour.
 */
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { getObjectText, putObject } from '../artifacts.js';
import { taskArtifactKey } from '../keys.js';
import type { Logger } from '../logger.js';
import { sourceFolderPrefix } from '../media/media-name.js';
import { validateSourceMedia } from '../media/validate-source-media.js';
import { ProviderThrottledError, RateLimitHandBackError } from '../rate-limit/errors.js';
import { MAX_HAND_BACK_SECONDS, type Sleep } from '../rate-limit/with-rate-limit.js';
import type { Runtime } from '../runtime.js';
import { sleep as realSleep } from '../wait.js';
import { checkFootagePlan, type FootageClip, type PlanCheck } from './footage-plan.js';
import type { GeminiFile, GeminiFilesClient } from './gemini-files.js';

/** The ledger of the files a task uploaded to Gemini, relative to its prefix. */
export const GEMINI_FILES_LEDGER = 'gemini-files.json';
/** Extensions of the clips a story can watch (stills are not sent). */
export const FOOTAGE_CLIP_EXTENSIONS = ['mp4', 'm4v', 'mov', 'webm'] as const;
/** At most this many clips go to Gemini; more are left out with the reason. */
export const MAX_FOOTAGE_CLIPS = 20;
/** The Files API takes files up to 2 GB. */
export const GEMINI_MAX_FILE_BYTES = 2 * 1024 ** 3;
/** Files live 48 h at Gemini. */
export const GEMINI_FILE_LIFETIME_MS = 48 * 3600 * 1000;
/** A file that expires sooner than this is uploaded again rather than used. */
export const FILE_REUSE_MARGIN_MS = 3600 * 1000;

/** What the provider offers for footage: the Files API and the plan request. */
export interface FootageWatcher {
  files: Pick<GeminiFilesClient, 'upload' | 'get'>;
  /** asks for the plan; `answer` is the model's JSON text, `details` what the record keeps (model, prompt…) */
  plan(a: { clips: FootageClip[]; source: string }): Promise<{ answer: string; details: Record<string, unknown> }>;
  /** the narration may have at most this many characters */
  readonly maxChars: number;
  /** the longest the stage waits for uploads and processing before handing back (GEMINI_FILE_WAIT_SECONDS) */
  readonly waitSeconds: number;
  /** between two looks at a file still processing, and the hand-back's wait (GEMINI_FILE_POLL_SECONDS) */
  readonly pollSeconds: number;
}

interface LedgerEntry {
  key: string;
  etag: string;
  size: number;
  /** `files/<id>` */
  name: string;
  uri: string;
  mime_type: string;
  uploaded_at: string;
  expires_at: string;
}

interface Ledger {
  version: 1;
  /** uploads made for the task, every attempt together */
  uploads: number;
  files: Record<string, LedgerEntry>;
}

/** A clip of the video, as listed. */
interface SourceClip {
  file_name: string;
  key: string;
  etag: string;
  size: number;
}

export interface LeftOutClip {
  clip: string;
  reason: string;
}

export type FootageOutcome =
  /** no clip under media/: nothing to watch */
  | { kind: 'no_clips' }
  /** clips, but none Gemini could take (unusable, too large, FAILED at Gemini) */
  | { kind: 'unusable'; reason: string; details: Record<string, unknown> }
  /** Gemini answered; `check` says whether the plan holds */
  | { kind: 'answered'; check: PlanCheck; clips: FootageClip[]; details: Record<string, unknown> };

/**
 * Whether an earlier upload of a clip can stand for it: the same object (ETag and size) and not
 * expiring within {@link FILE_REUSE_MARGIN_MS}. (Whether Gemini still has it is asked next.)
 */
export function ledgerEntryReusable(entry: Pick<LedgerEntry, 'etag' | 'size' | 'expires_at'>, clip: Pick<SourceClip, 'etag' | 'size'>, nowMs: number): boolean {
  return entry.etag === clip.etag && entry.size === clip.size && Date.parse(entry.expires_at) - nowMs > FILE_REUSE_MARGIN_MS;
}

const byName = (x: { file_name: string }, y: { file_name: string }) => x.file_name.localeCompare(y.file_name, 'en', { numeric: true });

/** The video's clips under `media/` (direct children with a clip extension), in name order. */
export async function listSourceClips(rt: Runtime, a: { creatorId: string; videoId: string }): Promise<SourceClip[]> {
  const prefix = sourceFolderPrefix(a.creatorId, a.videoId, 'media');
  const clips: SourceClip[] = [];
  let token: string | undefined;
  do {
    const page = await rt.s3.send(new ListObjectsV2Command({ Bucket: rt.settings.bucketName, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) {
      const name = o.Key?.slice(prefix.length) ?? '';
      const extension = name.slice(name.lastIndexOf('.') + 1).toLowerCase();
      if (!name || name.includes('/') || !(FOOTAGE_CLIP_EXTENSIONS as readonly string[]).includes(extension)) continue;
      clips.push({ file_name: name, key: o.Key ?? '', etag: o.ETag ?? '', size: o.Size ?? 0 });
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return clips.sort(byName);
}

async function readLedger(rt: Runtime, taskId: string): Promise<Ledger> {
  const text = await getObjectText(rt, taskArtifactKey(taskId, GEMINI_FILES_LEDGER));
  if (!text) return { version: 1, uploads: 0, files: {} };
  try {
    const parsed = JSON.parse(text) as Partial<Ledger>;
    return { version: 1, uploads: parsed.uploads ?? 0, files: parsed.files ?? {} };
  } catch {
    return { version: 1, uploads: 0, files: {} };
  }
}

const saveLedger = (rt: Runtime, taskId: string, ledger: Ledger) =>
  putObject(rt, taskArtifactKey(taskId, GEMINI_FILES_LEDGER), `${JSON.stringify(ledger, null, 2)}\n`, 'application/json');

const handBack = (reason: 'files_processing' | 'provider_throttled', seconds: number) =>
  new RateLimitHandBackError({ provider: 'gemini', reason, retryAfterSeconds: Math.min(MAX_HAND_BACK_SECONDS, Math.max(1, Math.ceil(seconds))) });

/** Gemini's own 429 on a Files call is waited out by the state machine, as for generateContent. */
async function throttledToHandBack<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error: unknown) {
    if (error instanceof ProviderThrottledError) throw handBack('provider_throttled', error.retryAfterSeconds);
    throw error;
  }
}

type ClipState = { clip: SourceClip; facts: { duration_ms: number; width: number; height: number; mime_type: string } } & (
  { status: 'upload' } | { status: 'check'; entry: LedgerEntry } | { status: 'active'; entry: LedgerEntry }
);

/**
 * Watches the footage of one task: probes the clips, uploads what the ledger lacks, waits (within
 * `waitSeconds`) until Gemini has them ACTIVE, then asks for the plan (through `rateLimited`, the
 * stage's shared limiter) and checks it. Throws {@link RateLimitHandBackError} to hand a longer
 * wait back to the state machine; Gemini's errors come classified (see gemini-errors.ts).
 */
export async function watchFootage(
  rt: Runtime,
  a: {
    taskId: string;
    creatorId: string;
    videoId: string;
    source: string;
    watcher: FootageWatcher;
    log: Logger;
    rateLimited: <T>(fn: () => Promise<T>) => Promise<T>;
    sleep?: Sleep;
  },
): Promise<FootageOutcome> {
  const { watcher, log } = a;
  const sleep = a.sleep ?? realSleep;
  const listed = await listSourceClips(rt, a);
  if (listed.length === 0) return { kind: 'no_clips' };

  const leftOut: LeftOutClip[] = [];
  const states: ClipState[] = [];
  for (const clip of listed) {
    if (states.length >= MAX_FOOTAGE_CLIPS) {
      leftOut.push({ clip: clip.file_name, reason: `more than ${MAX_FOOTAGE_CLIPS} clips` });
      continue;
    }
    if (clip.size > GEMINI_MAX_FILE_BYTES) {
      leftOut.push({ clip: clip.file_name, reason: 'larger than the 2 GB the Gemini Files API takes' });
      continue;
    }
    const checked = await validateSourceMedia(rt, { key: clip.key, size: clip.size, readPackets: false });
    const f = checked.facts;
    if (!f || f.kind !== 'clip' || !f.display_width || !f.display_height) {
      leftOut.push({ clip: clip.file_name, reason: checked.unusable?.message ?? 'not a video clip' });
      continue;
    }
    const facts = { duration_ms: f.duration_ms, width: f.display_width, height: f.display_height, mime_type: f.content_type };
    states.push({ clip, facts, status: 'upload' });
  }

  const started = rt.clock.now();
  const deadline = started + watcher.waitSeconds * 1000;
  const ledger = await readLedger(rt, a.taskId);
  let uploaded = 0;
  for (const [i, s] of states.entries()) {
    const entry = ledger.files[s.clip.file_name];
    if (entry && ledgerEntryReusable(entry, s.clip, rt.clock.now())) states[i] = { ...s, status: 'check', entry };
  }
  const reused = states.filter((s) => s.status === 'check').length;

  for (;;) {
    for (const [i, s] of states.entries()) {
      if (s.status !== 'upload') continue;
      // At least one upload per attempt, so every attempt makes progress.
      if (uploaded > 0 && rt.clock.now() >= deadline) throw handBack('files_processing', watcher.pollSeconds);
      const file = await throttledToHandBack(() => uploadClip(rt, watcher, s.clip, s.facts.mime_type));
      uploaded++;
      const entry: LedgerEntry = {
        key: s.clip.key,
        etag: s.clip.etag,
        size: s.clip.size,
        name: file.name,
        uri: file.uri,
        mime_type: file.mimeType || s.facts.mime_type,
        uploaded_at: new Date(rt.clock.now()).toISOString(),
        expires_at: file.expirationTime ?? new Date(rt.clock.now() + GEMINI_FILE_LIFETIME_MS).toISOString(),
      };
      ledger.files[s.clip.file_name] = entry;
      ledger.uploads++;
      // Recorded at once: an attempt that ends after this upload never repeats it.
      await saveLedger(rt, a.taskId, ledger);
      log.info('clip uploaded to Gemini', { clip: s.clip.file_name, file: file.name, bytes: s.clip.size });
      states[i] = { ...s, status: 'check', entry };
    }
    let reupload = false;
    const next: ClipState[] = [];
    for (const s of states) {
      if (s.status !== 'check') {
        next.push(s);
        continue;
      }
      const file = await throttledToHandBack(() => watcher.files.get(s.entry.name));
      if (!file) {
        log.info('Gemini no longer has the file: uploading the clip again', { clip: s.clip.file_name, file: s.entry.name });
        next.push({ clip: s.clip, facts: s.facts, status: 'upload' });
        reupload = true;
      } else if (file.state === 'ACTIVE') {
        next.push({ ...s, status: 'active', entry: { ...s.entry, uri: file.uri || s.entry.uri } });
      } else if (file.state === 'FAILED') {
        leftOut.push({ clip: s.clip.file_name, reason: `Gemini could not process it (${file.error?.message ?? 'state FAILED'})` });
      } else {
        next.push(s);
      }
    }
    states.splice(0, states.length, ...next);
    if (reupload) continue;
    if (!states.some((s) => s.status === 'check')) break;
    if (rt.clock.now() + watcher.pollSeconds * 1000 > deadline) throw handBack('files_processing', watcher.pollSeconds);
    await sleep(watcher.pollSeconds * 1000);
  }

  const clips: FootageClip[] = states.flatMap((s) =>
    s.status === 'active'
      ? [
          {
            file_name: s.clip.file_name,
            duration_ms: s.facts.duration_ms,
            width: s.facts.width,
            height: s.facts.height,
            uri: s.entry.uri,
            mime_type: s.entry.mime_type,
          },
        ]
      : [],
  );
  // uploaded / reused: this attempt; uploads_total: every attempt of the task (the ledger's count)
  const footage = { clips: listed.length, watched: clips.map((c) => c.file_name), uploaded, reused, uploads_total: ledger.uploads, left_out: leftOut };
  if (clips.length === 0) {
    return { kind: 'unusable', reason: `no clip could be given to Gemini (${leftOut.map((l) => `${l.clip}: ${l.reason}`).join('; ')})`, details: { footage } };
  }
  const { answer, details } = await a.rateLimited(() => watcher.plan({ clips, source: a.source }));
  const check = checkFootagePlan(answer, { clips, maxChars: watcher.maxChars });
  return { kind: 'answered', check, clips, details: { ...details, footage } };
}

/** Streams one clip from the object store into a Files API upload. */
async function uploadClip(rt: Runtime, watcher: FootageWatcher, clip: SourceClip, mimeType: string): Promise<GeminiFile> {
  const object = await rt.s3.send(new GetObjectCommand({ Bucket: rt.settings.bucketName, Key: clip.key }));
  const body = object.Body as AsyncIterable<Uint8Array> | undefined;
  if (!body) throw new Error(`The clip ${clip.key} has no body.`);
  return watcher.files.upload({ body, size: object.ContentLength ?? clip.size, mimeType, displayName: clip.file_name });
}
