import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';

/** One request the fake Gemini received. */
export interface GeminiRequest {
  /** performance.now() at arrival (same process as the pipeline, so comparable across tasks) */
  at: number;
  model: string;
  apiKey: string;
  /** the prompt text (all text parts of the request) */
  prompt: string;
}

export interface GeminiReply {
  status: number;
  /** JSON body, or a raw string when `raw` is set */
  body?: unknown;
  raw?: string;
  delayMs?: number;
}

export type GeminiResponder = (request: GeminiRequest, index: number) => GeminiReply;

/**
 * A local stand-in for the Gemini API (`POST /v1beta/models/<model>:generateContent`), pointed at
 * with `httpOptions.baseUrl` / `GEMINI_BASE_URL`. It answers what the responder says and records
 * every request with its arrival time.
 */
export async function startFakeGemini(responder: GeminiResponder) {
  const requests: GeminiRequest[] = [];
  let respond = responder;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const at = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const match = /^\/v1beta\/models\/([^/:]+):generateContent$/.exec(req.url ?? '');
      if (req.method !== 'POST' || !match) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { code: 404, message: `no route ${req.method} ${req.url}`, status: 'NOT_FOUND' } }));
        return;
      }
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { contents?: Array<{ parts?: Array<{ text?: string }> }> };
      const request: GeminiRequest = {
        at,
        model: match[1],
        apiKey: String(req.headers['x-goog-api-key'] ?? ''),
        prompt: (body.contents ?? [])
          .flatMap((c) => c.parts ?? [])
          .map((p) => p.text ?? '')
          .join(''),
      };
      requests.push(request);
      const reply = respond(request, requests.length - 1);
      const send = () => {
        res.writeHead(reply.status, { 'content-type': 'application/json; charset=UTF-8' });
        res.end(reply.raw ?? JSON.stringify(reply.body));
      };
      if (reply.delayMs) setTimeout(send, reply.delayMs);
      else send();
    });
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', () => ok()));
  const address = server.address();
  const url = `http://127.0.0.1:${typeof address === 'object' && address ? address.port : 0}`;
  return {
    url,
    requests,
    setResponder(next: GeminiResponder) {
      respond = next;
    },
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}

/** A successful answer with `text` as the model's output. */
export function geminiText(text: string, finishReason = 'STOP'): GeminiReply {
  return {
    status: 200,
    body: {
      candidates: [{ content: { role: 'model', parts: [{ text }] }, finishReason, index: 0 }],
      usageMetadata: { promptTokenCount: 120, candidatesTokenCount: 40, totalTokenCount: 160 },
      modelVersion: 'gemini-2.5-flash',
      responseId: 'fake',
    },
  };
}

/** Gemini's 429 as it really answers: RESOURCE_EXHAUSTED, a QuotaFailure and a RetryInfo detail. */
export function gemini429(retryDelay: string, quotaId = 'GenerateRequestsPerMinutePerProjectPerModel', quotaValue = '10'): GeminiReply {
  return {
    status: 429,
    body: {
      error: {
        code: 429,
        message:
          'You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.',
        status: 'RESOURCE_EXHAUSTED',
        details: [
          {
            '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
            violations: [
              {
                quotaMetric: 'generativelanguage.googleapis.com/generate_content_requests',
                quotaId,
                quotaDimensions: { location: 'global', model: 'gemini-2.5-flash' },
                quotaValue,
              },
            ],
          },
          {
            '@type': 'type.googleapis.com/google.rpc.Help',
            links: [{ description: 'Learn more about Gemini API quotas', url: 'https://ai.google.dev/gemini-api/docs/rate-limits' }],
          },
          { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay },
        ],
      },
    },
  };
}

export const PER_DAY_QUOTA = 'GenerateRequestsPerDayPerProjectPerModel-FreeTier';

/** The per-day quota: a 429 like the others (it even carries a RetryInfo), but `quotaId` says PerDay. */
export const geminiPerDay = (): GeminiReply => gemini429('38s', PER_DAY_QUOTA, '250');

export const gemini500 = (): GeminiReply => ({
  status: 500,
  body: {
    error: {
      code: 500,
      message: 'An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting',
      status: 'INTERNAL',
    },
  },
});

/** The stack settings that point the story at a stand-in Gemini (English, short stories). */
export function standInGeminiEnv(url: string): Record<string, string> {
  return { GEMINI_API_KEY: 'test-key', GEMINI_BASE_URL: url, STORY_LANGUAGE: 'en', STORY_TARGET_CHARS: '200' };
}
