import { describe, expect, it } from 'vitest';
import { createApiApp } from '../../lambdas/api/app.js';
import { API_ROUTES, openApiDocument, openApiPath } from '../../lambdas/api/openapi.js';
import { retryFilterSchema, runRequestSchema } from '../../shared/request.js';
import { createRuntime } from '../../shared/runtime.js';

const rt = createRuntime({
  TABLE_NAME: 'table',
  BUCKET_NAME: 'bucket',
  STATE_MACHINE_ARN: 'arn:aws:states:us-east-1:000000000000:stateMachine:x',
  AWS_REGION: 'us-east-1',
});
const app = createApiApp(rt);

type Doc = ReturnType<typeof openApiDocument>;
type Operation = {
  parameters?: Array<{ name: string; in: string }>;
  requestBody?: unknown;
  responses: Record<string, { content?: Record<string, { schema: unknown }> }>;
};
const operation = (doc: Doc, method: string, path: string) => (doc.paths[path] as Record<string, Operation> | undefined)?.[method.toLowerCase()];

describe('the OpenAPI document at /api/openapi.json', () => {
  it('is served by the app as OpenAPI 3.1', async () => {
    // act
    const res = await app.request('/api/openapi.json');
    const doc = (await res.json()) as Doc;

    // assess
    expect(res.status).toBe(200);
    expect(doc.openapi).toBe('3.1.0');
    expect(doc).toEqual(JSON.parse(JSON.stringify(openApiDocument())));
  });

  it('describes every route of the app: path, method and path parameters', () => {
    // prepare: the app's own routes (middleware registers a route twice; `ALL` is middleware only)
    const routes = [...new Set(app.routes.filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${r.path}`))];
    const doc = openApiDocument();

    // act
    const missing = routes.filter((route) => {
      const [method, path] = route.split(' ');
      const op = operation(doc, method, openApiPath(path));
      if (!op) return true;
      const params = [...openApiPath(path).matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
      return !params.every((p) => op.parameters?.some((q) => q.in === 'path' && q.name === p));
    });
    const stale = API_ROUTES.filter((row) => !routes.includes(`${row.method} ${row.path}`)).map((row) => `${row.method} ${row.path}`);

    // assess
    expect(routes.length).toBeGreaterThanOrEqual(14);
    expect(missing).toEqual([]);
    expect(stale).toEqual([]);
  });

  it('has every field of the run request and of the retry filter, from the schemas the handlers validate with', () => {
    const schemas = openApiDocument().components.schemas as Record<string, { properties: Record<string, unknown>; additionalProperties: unknown }>;
    expect(Object.keys(schemas.RunRequest.properties).sort()).toEqual(Object.keys(runRequestSchema.shape).sort());
    expect(Object.keys(schemas.RetryFilter.properties).sort()).toEqual(Object.keys(retryFilterSchema.shape).sort());
    expect(schemas.RunRequest.additionalProperties).toBe(false);
    expect(schemas.RunRequest.properties.webhook_url).toMatchObject({ type: 'string', maxLength: 2048 });
  });

  it('gives every route its main answers, with the error shape for refusals', () => {
    const doc = openApiDocument();
    const error = doc.components.schemas.Error as { properties: Record<string, unknown>; required: string[] };
    expect(Object.keys(error.properties).sort()).toEqual(['details', 'error', 'message']);
    expect(error.required.sort()).toEqual(['error', 'message']);
    const run = operation(doc, 'POST', '/api/pipeline/run')!;
    expect(run.requestBody).toMatchObject({ content: { 'application/json': { schema: { $ref: '#/components/schemas/RunRequest' } } } });
    expect(run.responses['400'].content?.['application/json'].schema).toEqual({ $ref: '#/components/schemas/Error' });
    for (const row of API_ROUTES) {
      const statuses = Object.keys(row.responses).map(Number);
      expect(
        statuses.some((s) => s < 400),
        `${row.method} ${row.path}`,
      ).toBe(true);
    }
    expect(JSON.stringify(doc)).not.toContain('#/$defs/');
  });
});
