/**
 * Local fakes of the two cloud TTS services, on loopback, answering real audio with known word
 * timings: the team's HTTP TTS service (the contract in shared/tts/http-tts.ts) and Amazon Polly's
 * SynthesizeSpeech (REST-JSON `POST /v1/speech`, audio as raw PCM or word speech marks as JSON
 * lines).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeWav } from '../../shared/tts/wav.js';
import { fakeSpeech, type FakeWord } from './fake-speech.js';

/** What a fake synthesizer returns for one request's text. */
export interface FakeSynthesis {
  samples: Int16Array;
  sampleRate: number;
  words: FakeWord[];
}

export type FakeSynthesizer = (text: string, request: { gender: number; language: string }) => Promise<FakeSynthesis> | FakeSynthesis;

/** One request the fake served, with the truth of its answer. */
export interface ServedSpeech {
  text: string;
  gender: number;
  language: string;
  status: number;
  words: FakeWord[];
  duration_ms: number;
  /** when the request arrived (epoch ms, on the fake's clock) */
  at: number;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

const requireFromHere = createRequire(import.meta.url);

/**
 * Encodes mono PCM as MP3 with the bundled ffmpeg (LAME). Written to a file, not a pipe, so LAME
 * can complete its gapless Info tag (encoder delay and padding), as a service writing files does.
 */
export async function encodeMp3(samples: Int16Array, sampleRate: number): Promise<Buffer> {
  const ffmpeg = (requireFromHere('@ffmpeg-installer/ffmpeg') as { path: string }).path;
  const dir = await mkdtemp(join(tmpdir(), 'fake-tts-mp3-'));
  try {
    const out = join(dir, 'speech.mp3');
    await new Promise<void>((resolve, reject) => {
      const child = spawn(ffmpeg, ['-hide_banner', '-loglevel', 'error', '-f', 'wav', '-i', 'pipe:0', '-c:a', 'libmp3lame', '-b:a', '64k', out]);
      child.on('error', reject);
      child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited ${code}`))));
      child.stdin.end(encodeWav(samples, sampleRate));
    });
    return await readFile(out);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** A request of the contract as the fake received it (the JSON body). */
export interface FakeHttpTtsRequest {
  text: string;
  gender: number;
  language: string;
}

export interface FakeHttpTts {
  url: string;
  served: ServedSpeech[];
  /** requests received and not yet answered */
  inFlight(): number;
  /** the most requests that were in flight at once */
  maxInFlight(): number;
  /** status codes to answer, in order, before answering normally (e.g. [503, 503]) */
  failNext(statuses: number[]): void;
  close(): Promise<void>;
}

/**
 * The team's TTS service: `POST /` `{text, gender, language}` → `audio/wav` (or `audio/mpeg`).
 * Answers 400 to a text longer than `maxChars`, as a service with a request limit would.
 */
export async function startFakeHttpTts(
  options: {
    synthesize?: FakeSynthesizer;
    format?: 'wav' | 'mp3';
    maxChars?: number;
    voice?: string;
    /**
     * Awaited when a request has arrived (it counts as in flight) and before it is answered: a
     * test holds requests here to see how many a limiter lets in at once, or answers a status
     * failure of its choosing instead of the speech (e.g. `{status: 429, retryAfter: '2'}`).
     */
    hold?: (request: FakeHttpTtsRequest) => Promise<{ status: number; retryAfter?: string } | void> | { status: number; retryAfter?: string } | void;
    /** the clock that stamps `served[].at` (default the wall clock; a test's virtual clock) */
    now?: () => number;
    /** called once a request's answer has been sent */
    onAnswered?: (request: FakeHttpTtsRequest, status: number) => void;
  } = {},
): Promise<FakeHttpTts> {
  const served: ServedSpeech[] = [];
  const failures: number[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const synthesize: FakeSynthesizer = options.synthesize ?? ((text) => fakeSpeech(text));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    void (async () => {
      const raw = await readBody(req);
      const body = JSON.parse(raw) as FakeHttpTtsRequest;
      const at = (options.now ?? Date.now)();
      inFlight += 1;
      maxInFlight = Math.max(maxInFlight, inFlight);
      // 'finish': the answer is handed to the OS, before the client can read it; 'close' also
      // covers a client that went away
      let settled = false;
      const settle = () => {
        if (settled) return;
        settled = true;
        inFlight -= 1;
        options.onAnswered?.(body, res.statusCode);
      };
      res.once('finish', settle);
      res.once('close', settle);
      const chosen = await options.hold?.(body);
      const failure = chosen?.status ?? failures.shift();
      if (failure !== undefined) {
        served.push({ at, text: body.text, gender: body.gender, language: body.language, status: failure, words: [], duration_ms: 0 });
        const retryAfter = chosen?.retryAfter ?? (failure === 429 ? '1' : undefined);
        res.writeHead(failure, { 'content-type': 'application/json', ...(retryAfter !== undefined ? { 'retry-after': retryAfter } : {}) });
        res.end(JSON.stringify({ error: failure >= 500 ? 'temporarily unavailable' : 'rejected' }));
        return;
      }
      if (typeof body.text !== 'string' || body.text.length === 0 || Array.from(body.text).length > (options.maxChars ?? Infinity)) {
        served.push({ at, text: body.text, gender: body.gender, language: body.language, status: 400, words: [], duration_ms: 0 });
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: 'text_too_long', message: `text must be 1–${options.maxChars} characters` }));
        return;
      }
      const speech = await synthesize(body.text, body);
      const duration_ms = (speech.samples.length * 1000) / speech.sampleRate;
      served.push({ at, text: body.text, gender: body.gender, language: body.language, status: 200, words: speech.words, duration_ms });
      const audio = options.format === 'mp3' ? await encodeMp3(speech.samples, speech.sampleRate) : encodeWav(speech.samples, speech.sampleRate);
      res.writeHead(200, {
        'content-type': options.format === 'mp3' ? 'audio/mpeg' : 'audio/wav',
        ...(options.voice ? { 'x-tts-voice': options.voice } : {}),
      });
      res.end(audio);
    })().catch((error: unknown) => {
      res.writeHead(500);
      res.end(String(error));
    });
  });
  const url = await listen(server);
  return {
    url,
    served,
    inFlight: () => inFlight,
    maxInFlight: () => maxInFlight,
    failNext: (statuses) => failures.push(...statuses),
    close: () => close(server),
  };
}

/** One SynthesizeSpeech call the fake Polly saw. */
export interface PollyCall {
  Text: string;
  VoiceId: string;
  Engine: string;
  OutputFormat: string;
  SampleRate?: string;
  SpeechMarkTypes?: string[];
  status: number;
  /** the answer's sound and word timings (the same for the audio and the marks call of one text) */
  words: FakeWord[];
  duration_ms: number;
}

export interface FakePolly {
  endpoint: string;
  calls: PollyCall[];
  /** Polly errors to answer, in order, before answering normally (e.g. 'ThrottlingException') */
  failNext(errors: Array<'ThrottlingException' | 'ServiceFailureException' | 'TextLengthExceededException'>): void;
  close(): Promise<void>;
}

const POLLY_ERROR_STATUS = { ThrottlingException: 400, ServiceFailureException: 500, TextLengthExceededException: 400 } as const;

/**
 * Amazon Polly's SynthesizeSpeech, faked: the same text always gives the same speech (seeded by
 * the text), so the audio call and the speech-marks call of one chunk agree, as they do on Polly.
 * Like Polly, it refuses a text over 3,000 characters and speech marks for non-json output.
 */
export async function startFakePolly(): Promise<FakePolly> {
  const calls: PollyCall[] = [];
  const failures: Array<keyof typeof POLLY_ERROR_STATUS> = [];
  const sendError = (res: ServerResponse, type: keyof typeof POLLY_ERROR_STATUS | 'ValidationException', message: string) => {
    res.writeHead(type === 'ValidationException' ? 400 : POLLY_ERROR_STATUS[type], { 'content-type': 'application/json', 'x-amzn-errortype': type });
    res.end(JSON.stringify({ message }));
  };
  const server = createServer((req, res) => {
    void (async () => {
      const body = JSON.parse(await readBody(req)) as Omit<PollyCall, 'status' | 'words' | 'duration_ms'>;
      const call: PollyCall = { ...body, status: 200, words: [], duration_ms: 0 };
      calls.push(call);
      if (req.method !== 'POST' || req.url?.split('?')[0] !== '/v1/speech') {
        call.status = 404;
        res.writeHead(404).end();
        return;
      }
      const failure = failures.shift();
      if (failure) {
        call.status = POLLY_ERROR_STATUS[failure];
        sendError(res, failure, failure === 'ThrottlingException' ? 'Rate exceeded' : 'failure injected by the test');
        return;
      }
      if (Array.from(body.Text).length > 3000) {
        call.status = 400;
        sendError(res, 'TextLengthExceededException', 'Maximum text length has been exceeded');
        return;
      }
      // Polly's PCM is 16 kHz by default for every engine; speech marks are timed on that audio.
      const sampleRate = Number(body.SampleRate ?? 16000);
      const speech = fakeSpeech(body.Text, { sampleRate: 16000 });
      call.words = speech.words;
      call.duration_ms = speech.duration_ms;
      if (body.OutputFormat === 'pcm') {
        if (sampleRate !== 16000) throw new Error('the fake speaks 16 kHz PCM only');
        const pcm = Buffer.alloc(speech.samples.length * 2);
        speech.samples.forEach((s, i) => pcm.writeInt16LE(s, i * 2));
        res.writeHead(200, { 'content-type': 'audio/pcm', 'x-amzn-requestcharacters': String(Array.from(body.Text).length) });
        res.end(pcm);
        return;
      }
      if (body.OutputFormat === 'json') {
        // Word marks: `time` ms, `start`/`end` UTF-8 byte offsets of the word (punctuation excluded).
        const lines: string[] = [];
        let searchFrom = 0;
        for (const w of speech.words) {
          const core = w.text.replace(/^[^\p{L}\p{N}]+|[^\p{L}\p{N}]+$/gu, '');
          const at = body.Text.indexOf(core, searchFrom);
          searchFrom = at + core.length;
          const start = Buffer.byteLength(body.Text.slice(0, at), 'utf8');
          lines.push(JSON.stringify({ time: w.start_ms, type: 'word', start, end: start + Buffer.byteLength(core, 'utf8'), value: core }));
        }
        res.writeHead(200, { 'content-type': 'application/x-json-stream' });
        res.end(`${lines.join('\n')}\n`);
        return;
      }
      sendError(res, 'ValidationException', `the fake does not speak ${body.OutputFormat}`);
    })().catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json', 'x-amzn-errortype': 'ServiceFailureException' });
      res.end(JSON.stringify({ message: String(error) }));
    });
  });
  const endpoint = await listen(server);
  return { endpoint, calls, failNext: (errors) => failures.push(...errors), close: () => close(server) };
}
