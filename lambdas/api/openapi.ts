import { z } from 'zod';
import { retryFilterSchema, runRequestSchema } from '../../shared/request.js';

/**
 * The OpenAPI 3.1 document of the HTTP API, served at `GET /api/openapi.json`. Request bodies are
 * the zod schemas the handlers validate with (shared/request.ts), turned into JSON Schema by
 * zod's own `z.toJSONSchema`; answers are described here. One row of {@link API_ROUTES} per
 * route of the app, keyed by its Hono path — test/unit/openapi.test.ts fails when a route of
 * the app has no row. Adding a route: add its row.
 */

/** The error shape every refusal has (`details` on validation errors: one entry per field). */
export const errorResponseSchema = z
  .object({
    error: z.string().describe('a stable machine-readable code, e.g. `invalid_request`, `duplicate_task`, `webhook_host_not_allowed`'),
    message: z.string().describe('one human sentence'),
    details: z.array(z.object({ field: z.string(), problem: z.string() })).optional(),
  })
  .catchall(z.unknown())
  .meta({ id: 'Error' });

const links = z.object({ self: z.string() });
const taskStatus = z.enum(['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED']);
const taskError = z.object({ stage: z.string(), code: z.string(), message: z.string() }).meta({ id: 'TaskError' });

export const acceptedTaskSchema = z.object({ task_id: z.string(), status: taskStatus, links }).meta({ id: 'AcceptedTask' });

export const taskSchema = z
  .object({
    task_id: z.string(),
    creator_id: z.string(),
    video_id: z.string(),
    status: taskStatus,
    stage: z.string().describe('the stage running now, or the last one that ran'),
    stages: z.record(z.string(), z.object({ status: z.string(), attempts: z.number() }).catchall(z.unknown())),
    error: taskError.optional(),
    redrives: z.number().optional(),
    created_at: z.string(),
    updated_at: z.string(),
    ended_at: z.string().optional(),
    webhook_url: z.string().optional(),
    webhook_deliveries: z
      .array(
        z.object({
          status: taskStatus,
          redrives: z.number(),
          attempt: z.number(),
          at: z.string(),
          outcome: z.enum(['delivered', 'retrying', 'gave_up', 'rejected', 'refused']),
          http_status: z.number().optional(),
          error: z.string().optional(),
        }),
      )
      .optional()
      .describe('every completion webhook attempt (docs/webhooks.md)'),
    artifacts: z.array(z.object({ name: z.string(), size: z.number(), url: z.string() }).catchall(z.unknown())).optional(),
    links,
  })
  .catchall(z.unknown())
  .meta({ id: 'Task' });

const json = (schema: z.ZodType, description: string) => ({ description, content: { 'application/json': schema } });
const bytes = (description: string, type = 'application/octet-stream') => ({ description, content: { [type]: 'binary' as const } });
const noContent = (description: string) => ({ description });

type Content = Record<string, z.ZodType | 'binary' | 'text'>;
interface ResponseRow {
  description: string;
  content?: Content;
}
interface QueryParam {
  name: string;
  description: string;
  schema: Record<string, unknown>;
}

/** One route of the app: its Hono method and path, what it takes and what it answers. */
export interface ApiRouteRow {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  /** the path exactly as registered on the Hono app (`:param`, a trailing `*`) */
  path: string;
  summary: string;
  query?: QueryParam[];
  headers?: QueryParam[];
  body?: { description: string; content: Content; required?: boolean };
  /** status → answer; errors use {@link errorResponseSchema} */
  responses: Record<number, ResponseRow>;
}

const E = (description: string) => json(errorResponseSchema, description);
const base = '/api/pipeline';
const task = `${base}/tasks/:task_id`;
const media = (folder: 'media' | 'music'): ApiRouteRow[] => [
  {
    method: 'PUT',
    path: `${base}/sources/:creator_id/:video_id/${folder}/:file_name`,
    summary: `Uploads one ${folder === 'media' ? 'still or clip' : 'music file'} (docs/media.md); with MEDIA_UPLOAD=presigned it answers a presigned S3 POST instead`,
    body: { description: 'the file bytes', content: { 'application/octet-stream': 'binary' } },
    responses: {
      200: json(z.object({ key: z.string(), folder: z.string(), file_name: z.string() }).catchall(z.unknown()), 'replaced (or the presigned POST)'),
      201: json(z.object({ key: z.string(), folder: z.string(), file_name: z.string(), size: z.number() }).catchall(z.unknown()), 'stored'),
      400: E('bad ids or file name'),
      413: E('larger than the limit'),
      415: E('not a supported media type'),
      422: E('the bytes are not what the name says'),
    },
  },
  {
    method: 'DELETE',
    path: `${base}/sources/:creator_id/:video_id/${folder}/:file_name`,
    summary: `Deletes one ${folder} file`,
    responses: { 204: noContent('deleted'), 400: E('bad ids or file name'), 404: E('no such file') },
  },
];

/** Every route of the API app. */
export const API_ROUTES: ApiRouteRow[] = [
  { method: 'GET', path: '/api/health', summary: 'Liveness', responses: { 200: json(z.object({ status: z.literal('ok') }), 'up') } },
  {
    method: 'GET',
    path: '/api/openapi.json',
    summary: 'This document',
    responses: { 200: { description: 'the OpenAPI 3.1 document', content: { 'application/json': z.object({ openapi: z.string() }).catchall(z.unknown()) } } },
  },
  {
    method: 'POST',
    path: `${base}/run`,
    summary: 'Submits a task (creator + video → narrated video)',
    headers: [
      { name: 'Idempotency-Key', description: 'a client retry key: the same key and body answer the same task', schema: { type: 'string', maxLength: 256 } },
    ],
    body: { description: 'the request', content: { 'application/json': runRequestSchema }, required: true },
    responses: {
      202: json(acceptedTaskSchema, 'accepted and running'),
      400: E('invalid request (per-field details), invalid JSON, or a webhook_url that is not allowed'),
      409: E('a task for this creator and video is running (`task_id` names it)'),
      413: E('body over 1 MiB'),
      415: E('not JSON'),
      422: E('no source material, or an Idempotency-Key reused with another body'),
      503: E('the export backlog is full (`retry_after_seconds`) or the orchestrator is unavailable'),
    },
  },
  {
    method: 'GET',
    path: `${base}/tasks`,
    summary: 'Lists tasks, newest first',
    query: [
      { name: 'status', description: 'only tasks with this status', schema: { type: 'string', enum: ['RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED'] } },
      { name: 'creator_id', description: 'only this creator', schema: { type: 'string' } },
      { name: 'video_id', description: 'only this video', schema: { type: 'string' } },
      { name: 'limit', description: '1-100, default 20', schema: { type: 'integer', minimum: 1, maximum: 100 } },
    ],
    responses: { 200: json(z.object({ tasks: z.array(taskSchema) }), 'the tasks'), 400: E('a bad filter') },
  },
  {
    method: 'GET',
    path: task,
    summary: "A task: status, stage, each stage's attempts and timings, error, artifacts, webhook attempts",
    responses: { 200: json(taskSchema, 'the task'), 404: E('no such task') },
  },
  {
    method: 'POST',
    path: `${task}/cancel`,
    summary: 'Cancels a running task',
    responses: { 200: json(acceptedTaskSchema, 'cancelled'), 404: E('no such task'), 409: E('the task has already ended') },
  },
  {
    method: 'POST',
    path: `${base}/tasks/retry`,
    summary: 'Redrives every ended task matching a filter, a bounded page at a time',
    body: { description: 'the filter (empty: every FAILED task)', content: { 'application/json': retryFilterSchema }, required: false },
    responses: { 200: json(z.object({}).catchall(z.unknown()), 'what was retried, and a cursor while more may match'), 400: E('a bad filter') },
  },
  {
    method: 'POST',
    path: `${task}/retry`,
    summary: 'Redrives a FAILED or CANCELLED task from its failed stage',
    responses: {
      202: json(acceptedTaskSchema.extend({ redrives: z.number() }), 'running again'),
      404: E('no such task'),
      409: E('not retryable now (running, succeeded, or its creator+video is busy)'),
    },
  },
  {
    method: 'GET',
    path: `${task}/artifacts/*`,
    summary: 'One artifact of a task (`final_video.mp4`, `draft.json`, `subtitles.srt`, …): its bytes, or a 302 to a presigned URL',
    responses: {
      200: bytes('the bytes'),
      302: noContent('redirect to a presigned URL (ARTIFACT_DELIVERY=redirect)'),
      400: E('not an artifact name'),
      404: E('no such task or artifact'),
    },
  },
  {
    method: 'PUT',
    path: `${base}/sources/:creator_id/:video_id/source.txt`,
    summary: 'Stores the source text of a creator + video, for a later submission',
    body: { description: 'UTF-8 text, at most 50,000 characters', content: { 'text/plain': 'text' }, required: true },
    responses: {
      201: json(z.object({ key: z.string(), characters: z.number() }), 'stored'),
      400: E('empty or too long'),
      413: E('body over 1 MiB'),
      415: E('not text/plain'),
    },
  },
  ...media('media'),
  ...media('music'),
  {
    method: 'GET',
    path: `${base}/export-queue`,
    summary:
      'The export queue: what renders now, what is queued in render order with estimated starts, the mean export time, the exporter utilization over the last hour',
    responses: { 200: json(z.object({}).catchall(z.unknown()), 'the queue (docs/console.md)') },
  },
  // The console (embedded stack): the page and its two static files (docs/console.md).
  { method: 'GET', path: '/', summary: 'The console page', responses: { 200: { description: 'the page', content: { 'text/html': 'text' } } } },
  {
    method: 'GET',
    path: '/console/console.js',
    summary: "The console's script",
    responses: { 200: { description: 'the script', content: { 'text/javascript': 'text' } } },
  },
  {
    method: 'GET',
    path: '/console/console.css',
    summary: "The console's style sheet",
    responses: { 200: { description: 'the style sheet', content: { 'text/css': 'text' } } },
  },
  { method: 'GET', path: '/favicon.ico', summary: 'No icon', responses: { 204: noContent('nothing') } },

  {
    method: 'GET',
    path: `${base}/sources/:creator_id/:video_id`,
    summary: "Lists a creator + video's source text, media and music with their probed facts",
    responses: { 200: json(z.object({ creator_id: z.string(), video_id: z.string() }).catchall(z.unknown()), 'the listing'), 400: E('bad ids') },
  },
];

const PATH_PARAMS: Record<string, string> = {
  task_id: 'the task id (a UUID)',
  creator_id: '1-64 characters of A-Z, a-z, 0-9, "_" or "-"',
  video_id: '1-64 characters of A-Z, a-z, 0-9, "_" or "-"',
  file_name: 'the file name, percent-encoded',
  artifact_name: 'the artifact name, relative to the task (may contain "/")',
};

/** A Hono path as an OpenAPI path: `:name` → `{name}`, a trailing `*` → `{artifact_name}`. */
export function openApiPath(honoPath: string): string {
  return honoPath.replace(/:([A-Za-z_]+)/g, '{$1}').replace(/\/\*$/, '/{artifact_name}');
}

/** The OpenAPI 3.1 document of {@link API_ROUTES}. */
export function openApiDocument(routes: ApiRouteRow[] = API_ROUTES) {
  const schemas: Record<string, unknown> = {};
  const toSchema = (schema: z.ZodType | 'binary' | 'text', io: 'input' | 'output') => {
    if (schema === 'binary') return { type: 'string', contentMediaType: 'application/octet-stream' };
    if (schema === 'text') return { type: 'string' };
    // Named schemas (`.meta({id})`) go to components; the handlers' request schemas are named here.
    const named = schema === runRequestSchema ? 'RunRequest' : schema === retryFilterSchema ? 'RetryFilter' : undefined;
    const converted = z.toJSONSchema(schema, { io, target: 'draft-2020-12', unrepresentable: 'any', reused: 'inline' }) as Record<string, unknown> & {
      $defs?: Record<string, unknown>;
    };
    const { $schema: _s, $defs, ...rest } = converted;
    for (const [id, def] of Object.entries($defs ?? {})) schemas[id] = fixRefs(def);
    const id = named ?? z.globalRegistry.get(schema)?.id;
    if (!id) return fixRefs(rest);
    // A schema with an id of its own comes back as a $ref to its $defs entry, already stored.
    if (!(typeof rest.$ref === 'string' && Object.keys(rest).length === 1)) schemas[id] = fixRefs(rest);
    return { $ref: `#/components/schemas/${id}` };
  };
  const paths: Record<string, Record<string, unknown>> = {};
  for (const row of routes) {
    const path = openApiPath(row.path);
    const pathParams = [...path.matchAll(/\{([A-Za-z_]+)\}/g)].map((m) => ({
      name: m[1],
      in: 'path',
      required: true,
      description: PATH_PARAMS[m[1]] ?? m[1],
      schema: { type: 'string' },
    }));
    const parameters = [
      ...pathParams,
      ...(row.query ?? []).map((q) => ({ ...q, in: 'query', required: false })),
      ...(row.headers ?? []).map((h) => ({ ...h, in: 'header', required: false })),
    ];
    const content = (c: Content, io: 'input' | 'output') => Object.fromEntries(Object.entries(c).map(([type, s]) => [type, { schema: toSchema(s, io) }]));
    (paths[path] ??= {})[row.method.toLowerCase()] = {
      summary: row.summary,
      operationId: `${row.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(parameters.length ? { parameters } : {}),
      ...(row.body
        ? { requestBody: { description: row.body.description, required: row.body.required ?? true, content: content(row.body.content, 'input') } }
        : {}),
      responses: Object.fromEntries(
        Object.entries(row.responses).map(([status, r]) => [
          status,
          { description: r.description, ...(r.content ? { content: content(r.content, 'output') } : {}) },
        ]),
      ),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'reel-pipeline',
      version: '1',
      description:
        "Turns a creator's source material into a narrated vertical video. Every refusal answers the Error shape with a stable code. On AWS every request is signed with SigV4 (service execute-api).",
    },
    jsonSchemaDialect: 'https://json-schema.org/draft/2020-12/schema',
    paths,
    components: { schemas },
  };
}

/** zod writes `#/$defs/<id>`; in the document they live under components. */
function fixRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(fixRefs);
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [
        k,
        k === '$ref' && typeof v === 'string' ? v.replace(/^#\/\$defs\//, '#/components/schemas/') : fixRefs(v),
      ]),
    );
  }
  return value;
}
