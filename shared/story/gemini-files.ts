/**
 * The Gemini Files API, spoken directly (not through `@google/genai`, whose upload wants a local
 * path or a Blob): a clip goes from the object store to Gemini as one stream, never whole in
 * memory and never on local disk.
 *
 *   POST {base}/upload/v1beta/files      X-Goog-Upload-Protocol: resumable, X-Goog-Upload-Command: start
 *        → 200, header X-Goog-Upload-URL
 *   POST {upload URL}                    X-Goog-Upload-Command: upload, finalize; X-Goog-Upload-Offset: 0
 *        body: the bytes (Content-Length) → 200 {file: {name, uri, state, expirationTime, …}}
 *   GET  {base}/v1beta/{name}            → the file: state PROCESSING → ACTIVE (or FAILED with error)
 *
 * Errors are the SDK's `ApiError` shape (status, the body as message), so
 * {@link classifyGeminiError} decides what each means, as for generateContent.
 */
import { ApiError } from '@google/genai';
import type { ApiKeySource } from './gemini-api-key.js';
import { classifyGeminiError } from './gemini-errors.js';

/** Google's endpoint when `GEMINI_BASE_URL` is empty. */
export const GEMINI_DEFAULT_BASE_URL = 'https://generativelanguage.googleapis.com';

/** A file as the Files API describes it (the fields this pipeline reads). */
export interface GeminiFile {
  /** `files/<id>` */
  name: string;
  uri: string;
  mimeType?: string;
  sizeBytes?: string;
  state?: 'STATE_UNSPECIFIED' | 'PROCESSING' | 'ACTIVE' | 'FAILED';
  /** RFC 3339; files live 48 h */
  expirationTime?: string;
  error?: { code?: number; message?: string };
  videoMetadata?: { videoDuration?: string };
}

export interface GeminiFilesOptions {
  apiKey: ApiKeySource;
  /** empty: Google's endpoint */
  baseUrl?: string;
  /** time limit of the small requests (start, get); the upload itself has none of ours */
  timeoutSeconds: number;
  model: string;
}

export class GeminiFilesClient {
  private readonly base: string;
  constructor(private readonly options: GeminiFilesOptions) {
    this.base = (options.baseUrl || GEMINI_DEFAULT_BASE_URL).replace(/\/+$/, '');
  }

  private async send(url: string, init: RequestInit & { timeout?: boolean }): Promise<Response> {
    const key = await this.options.apiKey();
    let response: Response;
    try {
      response = await fetch(url, {
        ...init,
        headers: { ...(init.headers as Record<string, string>), 'x-goog-api-key': key },
        ...(init.timeout === false ? {} : { signal: AbortSignal.timeout(this.options.timeoutSeconds * 1000) }),
      });
    } catch (error: unknown) {
      throw classifyGeminiError(error, { model: this.options.model, timeoutSeconds: this.options.timeoutSeconds });
    }
    if (!response.ok) {
      const body = await response.text().catch(() => '');
      throw classifyGeminiError(new ApiError({ status: response.status, message: body || `HTTP ${response.status}` }), {
        model: this.options.model,
        timeoutSeconds: this.options.timeoutSeconds,
      });
    }
    return response;
  }

  /**
   * Uploads `size` bytes from `body` as one file (resumable protocol: start, then one `upload,
   * finalize` with every byte). Resolves with the file Gemini made (usually still PROCESSING).
   */
  async upload(a: { body: AsyncIterable<Uint8Array>; size: number; mimeType: string; displayName: string }): Promise<GeminiFile> {
    const started = await this.send(`${this.base}/upload/v1beta/files`, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'x-goog-upload-protocol': 'resumable',
        'x-goog-upload-command': 'start',
        'x-goog-upload-header-content-length': String(a.size),
        'x-goog-upload-header-content-type': a.mimeType,
      },
      body: JSON.stringify({ file: { display_name: a.displayName } }),
    });
    const uploadUrl = started.headers.get('x-goog-upload-url');
    await started.body?.cancel();
    if (!uploadUrl) throw new Error('Gemini started no upload: the answer had no X-Goog-Upload-URL header.');
    const finished = await this.send(uploadUrl, {
      method: 'POST',
      headers: {
        'content-length': String(a.size),
        'x-goog-upload-command': 'upload, finalize',
        'x-goog-upload-offset': '0',
      },
      body: a.body as unknown as BodyInit,
      // a 2 GB clip takes as long as it takes; the stage's own time limit bounds it
      timeout: false,
      duplex: 'half',
    } as RequestInit & { duplex: 'half'; timeout: boolean });
    const status = finished.headers.get('x-goog-upload-status');
    const answer = (await finished.json()) as { file?: GeminiFile };
    if ((status && status !== 'final') || !answer.file?.name) {
      throw new Error(`Gemini did not finalize the upload of ${a.displayName} (upload status ${status ?? 'missing'}).`);
    }
    return answer.file;
  }

  /** The file's current state; `undefined` when Gemini no longer has it (expired or deleted). */
  async get(name: string): Promise<GeminiFile | undefined> {
    try {
      const response = await this.send(`${this.base}/v1beta/${name}`, { method: 'GET' });
      return (await response.json()) as GeminiFile;
    } catch (error: unknown) {
      // A missing file is 404 NOT_FOUND, or 403 PERMISSION_DENIED once it has expired.
      const status = (error as { status?: unknown }).status;
      if (status === 404 || status === 403) return undefined;
      throw error;
    }
  }
}
