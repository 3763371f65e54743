import { parseRunRequest, runRequestSchema, type RunRequest } from '../shared/request.js';

/**
 * The fields of `POST /api/pipeline/run` as the CLI offers them, read from the same zod schema
 * the API validates with: a field added there is a `reel submit` flag and a batch column
 * without a change here, and a value refused here is refused with the API's own sentence.
 */
export interface RequestField {
  /** the body's field name, e.g. `creator_id` (also the batch column) */
  name: string;
  /** the flag, e.g. `creator-id` (used as `--creator-id`) */
  flag: string;
  /** what a value looks like, e.g. `0|1|2`, `true|false`, `text`, `JSON` */
  hint: string;
  required: boolean;
  /** the default the API fills in, as JSON */
  defaultValue?: string;
}

interface SchemaDef {
  type: string;
  innerType?: { _zod: { def: SchemaDef } };
  options?: Array<{ _zod: { def: SchemaDef } }>;
  values?: unknown[];
  entries?: Record<string, unknown>;
  defaultValue?: unknown;
}

const defOf = (schema: unknown): SchemaDef => (schema as { _zod: { def: SchemaDef } })._zod.def;

function hintOf(def: SchemaDef): string {
  switch (def.type) {
    case 'optional':
    case 'default':
    case 'nullable':
    case 'prefault':
      return def.innerType ? hintOf(def.innerType._zod.def) : 'value';
    case 'string':
      return 'text';
    case 'number':
    case 'int':
      return 'number';
    case 'boolean':
      return 'true|false';
    case 'literal':
      return (def.values ?? []).map((v) => JSON.stringify(v).replace(/^"|"$/g, '')).join('|');
    case 'enum':
      return Object.values(def.entries ?? {})
        .map((v) => String(v))
        .join('|');
    case 'union':
      return (def.options ?? []).map((o) => hintOf(o._zod.def)).join('|');
    default:
      return 'JSON';
  }
}

function defaultOf(def: SchemaDef): unknown {
  if (def.type === 'default') return def.defaultValue;
  if (def.type === 'optional' || def.type === 'nullable') return def.innerType ? defaultOf(def.innerType._zod.def) : undefined;
  return undefined;
}

/** Every field of the run request, in the schema's order. */
export function requestFields(): RequestField[] {
  return Object.entries(runRequestSchema.shape).map(([name, schema]) => {
    const def = defOf(schema);
    const fallback = defaultOf(def);
    return {
      name,
      flag: name.replaceAll('_', '-'),
      hint: hintOf(def),
      required: !schema.safeParse(undefined).success,
      ...(fallback !== undefined ? { defaultValue: JSON.stringify(fallback) } : {}),
    };
  });
}

/**
 * A value as a person types it (a flag, a CSV cell): kept as text when the field takes that
 * text, otherwise read as JSON, so `1` is a number, `false` a boolean and `{"a":1}` an object.
 * Text that is not JSON either is passed on as text for the schema to refuse in its own words.
 */
export function coerceFieldValue(field: string, raw: string): unknown {
  const schema = (runRequestSchema.shape as Record<string, { safeParse(v: unknown): { success: boolean } }>)[field];
  if (!schema || schema.safeParse(raw).success) return raw;
  try {
    return JSON.parse(raw) as unknown;
  } catch {
    return raw;
  }
}

/** Validates a body exactly as `POST /api/pipeline/run` does; throws the API's `InvalidRequestError`. */
export function validateRunRequest(body: unknown): RunRequest {
  return parseRunRequest(body);
}
