import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

/** One file the stand-in holds, as the Files API describes it, plus what the test needs. */
export interface FakeGeminiFile {
  name: string;
  uri: string;
  displayName: string;
  mimeType: string;
  sizeBytes: string;
  sha256: string;
  /** files.get calls answered for it */
  polls: number;
}

/** A generateContent request as the stand-in saw it. */
export interface FakeGenerateRequest {
  model: string;
  /** the text parts, joined */
  prompt: string;
  /** the `fileData.fileUri` of every part that has one */
  fileUris: string[];
  responseMimeType?: string;
  responseSchema?: unknown;
}

export interface FakeReply {
  status: number;
  body: unknown;
}

export interface FakeGeminiFilesOptions {
  /** answers generateContent */
  generate: (request: FakeGenerateRequest) => FakeReply;
  /** the state files.get reports for a file, from the test (default: ACTIVE from the first look) */
  stateOf?: (file: FakeGeminiFile) => 'PROCESSING' | 'ACTIVE' | 'FAILED';
}

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', ...headers });
  res.end(JSON.stringify(body));
};
const googleError = (code: number, status: string, message: string) => ({ error: { code, message, status } });

/**
 * A stand-in for the parts of the Gemini API the footage story uses, on loopback:
 *
 * - `POST /upload/v1beta/files` (resumable start): requires `X-Goog-Upload-Protocol: resumable`,
 *   `X-Goog-Upload-Command: start`, the declared length and type; answers `X-Goog-Upload-URL`
 * - `POST /upload/session/<n>` (`upload, finalize` at offset 0): requires every declared byte,
 *   keeps their sha256, answers the file (PROCESSING)
 * - `GET /v1beta/files/<id>`: the file, in the state the test says; 404 once {@link forget}-ten
 * - `POST /v1beta/models/<model>:generateContent`: records the request (prompt, file URIs,
 *   response schema) and answers what the test says
 *
 * Anything off-protocol is answered 400 and listed in `violations`, which a test expects empty.
 */
export async function startFakeGeminiFiles(options: FakeGeminiFilesOptions) {
  const files = new Map<string, FakeGeminiFile>();
  const sessions = new Map<string, { displayName: string; mimeType: string; size: number }>();
  const uploads: FakeGeminiFile[] = [];
  const generated: FakeGenerateRequest[] = [];
  const violations: string[] = [];
  let generate = options.generate;
  let stateOf = options.stateOf ?? (() => 'ACTIVE' as const);
  let url = '';

  const refuse = (res: ServerResponse, what: string) => {
    violations.push(what);
    json(res, 400, googleError(400, 'INVALID_ARGUMENT', what));
  };

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const path = (req.url ?? '').split('?')[0];
      if (req.headers['x-goog-api-key'] !== 'test-key' && !path.startsWith('/upload/session/')) {
        json(res, 403, googleError(403, 'PERMISSION_DENIED', 'API key not valid.'));
        return;
      }
      if (req.method === 'POST' && path === '/upload/v1beta/files') {
        const h = req.headers;
        if (h['x-goog-upload-protocol'] !== 'resumable')
          return refuse(res, `start without X-Goog-Upload-Protocol: resumable (${String(h['x-goog-upload-protocol'])})`);
        if (h['x-goog-upload-command'] !== 'start') return refuse(res, `start with X-Goog-Upload-Command ${String(h['x-goog-upload-command'])}`);
        const size = Number(h['x-goog-upload-header-content-length']);
        const mimeType = String(h['x-goog-upload-header-content-type'] ?? '');
        if (!(size > 0) || !mimeType.startsWith('video/')) return refuse(res, `start without a length and a video type (${size}, ${mimeType})`);
        const meta = JSON.parse(body.toString('utf8') || '{}') as { file?: { display_name?: string } };
        const id = String(sessions.size + 1);
        sessions.set(id, { displayName: meta.file?.display_name ?? '', mimeType, size });
        res.writeHead(200, { 'x-goog-upload-url': `${url}/upload/session/${id}`, 'x-goog-upload-status': 'active' });
        res.end();
        return;
      }
      const session = /^\/upload\/session\/(\d+)$/.exec(path);
      if (req.method === 'POST' && session) {
        const s = sessions.get(session[1]);
        if (!s) return refuse(res, `upload to an unknown session ${session[1]}`);
        if (req.headers['x-goog-upload-command'] !== 'upload, finalize')
          return refuse(res, `upload with X-Goog-Upload-Command ${String(req.headers['x-goog-upload-command'])}`);
        if (req.headers['x-goog-upload-offset'] !== '0') return refuse(res, `upload at offset ${String(req.headers['x-goog-upload-offset'])}`);
        if (body.length !== s.size) return refuse(res, `upload of ${body.length} bytes where ${s.size} were declared`);
        sessions.delete(session[1]);
        const id = `f${uploads.length + 1}`;
        const file: FakeGeminiFile = {
          name: `files/${id}`,
          uri: `${url}/v1beta/files/${id}`,
          displayName: s.displayName,
          mimeType: s.mimeType,
          sizeBytes: String(s.size),
          sha256: createHash('sha256').update(body).digest('hex'),
          polls: 0,
        };
        files.set(file.name, file);
        uploads.push(file);
        json(res, 200, { file: describe(file, 'PROCESSING') }, { 'x-goog-upload-status': 'final' });
        return;
      }
      const get = /^\/v1beta\/(files\/[a-z0-9-]+)$/.exec(path);
      if (req.method === 'GET' && get) {
        const file = files.get(get[1]);
        if (!file) return json(res, 404, googleError(404, 'NOT_FOUND', `File ${get[1]} not found.`));
        file.polls++;
        return json(res, 200, describe(file, stateOf(file)));
      }
      const model = /^\/v1beta\/models\/([^/:]+):generateContent$/.exec(path);
      if (req.method === 'POST' && model) {
        const parsed = JSON.parse(body.toString('utf8')) as {
          contents?: Array<{ parts?: Array<{ text?: string; fileData?: { fileUri?: string } }> }>;
          generationConfig?: { responseMimeType?: string; responseSchema?: unknown };
        };
        const parts = (parsed.contents ?? []).flatMap((c) => c.parts ?? []);
        const request: FakeGenerateRequest = {
          model: model[1],
          prompt: parts.map((p) => p.text ?? '').join(''),
          fileUris: parts.flatMap((p) => (p.fileData?.fileUri ? [p.fileData.fileUri] : [])),
          responseMimeType: parsed.generationConfig?.responseMimeType,
          responseSchema: parsed.generationConfig?.responseSchema,
        };
        const unknown = request.fileUris.filter((u) => ![...files.values()].some((f) => f.uri === u));
        if (unknown.length) return refuse(res, `generateContent references files the stand-in does not have: ${unknown.join(', ')}`);
        generated.push(request);
        const reply = generate(request);
        return json(res, reply.status, reply.body);
      }
      json(res, 404, googleError(404, 'NOT_FOUND', `no route ${req.method} ${path}`));
    });
  });
  const describe = (file: FakeGeminiFile, state: string) => ({
    name: file.name,
    displayName: file.displayName,
    mimeType: file.mimeType,
    sizeBytes: file.sizeBytes,
    uri: file.uri,
    state,
    expirationTime: new Date(Date.now() + 48 * 3600 * 1000).toISOString(),
    ...(state === 'FAILED' ? { error: { code: 400, message: 'The video could not be decoded.' } } : {}),
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const address = server.address();
  url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url,
    /** every finalized upload, in order */
    uploads,
    generated,
    violations,
    files,
    setGenerate(next: FakeGeminiFilesOptions['generate']) {
      generate = next;
    },
    setStateOf(next: NonNullable<FakeGeminiFilesOptions['stateOf']>) {
      stateOf = next;
    },
    /** drops a file, as Gemini does when it expires or is deleted */
    forget(name: string) {
      files.delete(name);
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** A generateContent answer whose text is `text`. */
export function generated(text: string): FakeReply {
  return {
    status: 200,
    body: {
      candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason: 'STOP', index: 0 }],
      usageMetadata: { promptTokenCount: 900, candidatesTokenCount: 60, totalTokenCount: 960 },
      modelVersion: 'gemini-2.5-flash',
    },
  };
}
