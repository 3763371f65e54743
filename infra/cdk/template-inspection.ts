/**
 * Reading a synthesized template the way CloudFormation would: resolving intrinsics to strings,
 * substituting a state machine's definition, listing a role's statements, finding dependency
 * cycles. Used by the template tests (test/cdk-*.test.ts); nothing here runs on AWS.
 */

export type CfnTemplate = { Resources: Record<string, CfnResource>; Outputs?: Record<string, unknown> };
export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
  DependsOn?: string | string[];
  Metadata?: Record<string, unknown>;
}

/**
 * An intrinsic as one readable string: `Ref` → `<Name>`, `Fn::GetAtt` → `<Name.Attr>`,
 * `Fn::Join` joined, `Fn::Sub` with `${X}` → `<X>`; `names` renames logical ids.
 */
export function flatten(value: unknown, names: Record<string, string> = {}): string {
  const name = (id: string) => names[id] ?? id;
  if (typeof value === 'string') return value.replace(/\$\{([^}]+)\}/g, (_m, inner: string) => `<${name(inner)}>`);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if ('Ref' in o) return `<${name(String(o.Ref))}>`;
    if ('Fn::GetAtt' in o) {
      const [id, attr] = o['Fn::GetAtt'] as [string, string];
      return `<${name(id)}.${attr}>`;
    }
    if ('Fn::Join' in o) {
      const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
      return parts.map((p) => flatten(p, names)).join(sep);
    }
    if ('Fn::Sub' in o) return flatten(o['Fn::Sub'], names);
  }
  return JSON.stringify(value);
}

/**
 * Resolves `Ref`/`Fn::GetAtt`/`Fn::Join` with the given values — `resolve(logicalId, attr?)`
 * answers what CloudFormation would (attr undefined for a Ref).
 */
export function resolveIntrinsic(value: unknown, resolve: (logicalId: string, attr?: string) => string): string {
  if (typeof value === 'string') return value;
  const o = value as Record<string, unknown>;
  if (o && 'Ref' in o) return resolve(String(o.Ref));
  if (o && 'Fn::GetAtt' in o) {
    const [id, attr] = o['Fn::GetAtt'] as [string, string];
    return resolve(id, attr);
  }
  if (o && 'Fn::Join' in o) {
    const [sep, parts] = o['Fn::Join'] as [string, unknown[]];
    return parts.map((p) => resolveIntrinsic(p, resolve)).join(sep);
  }
  throw new Error(`Cannot resolve ${JSON.stringify(value)}`);
}

/**
 * What CloudFormation does with `DefinitionString` + `DefinitionSubstitutions`: each `${Key}`
 * is replaced by the resolved value of that substitution.
 */
export function substituteAsCloudFormation(
  definitionString: string,
  substitutions: Record<string, unknown>,
  resolve: (logicalId: string, attr?: string) => string,
): unknown {
  const values = Object.fromEntries(Object.entries(substitutions).map(([k, v]) => [k, resolveIntrinsic(v, resolve)]));
  const text = definitionString.replace(/\$\{(\w+)\}/g, (whole, key: string) => {
    if (!(key in values)) throw new Error(`No substitution for ${whole}`);
    // The definition is JSON: a value lands inside a JSON string.
    return JSON.stringify(values[key]).slice(1, -1);
  });
  return JSON.parse(text);
}

export interface PolicyStatementJson {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Condition?: Record<string, Record<string, unknown>>;
}

/** Every Allow statement that applies to a role: its inline policies and every AWS::IAM::Policy attached to it. */
export function statementsOfRole(template: CfnTemplate, roleLogicalId: string): PolicyStatementJson[] {
  const out: PolicyStatementJson[] = [];
  const role = template.Resources[roleLogicalId];
  for (const p of (role?.Properties?.Policies as Array<{ PolicyDocument: { Statement: PolicyStatementJson[] } }>) ?? [])
    out.push(...p.PolicyDocument.Statement);
  for (const r of Object.values(template.Resources)) {
    if (r.Type !== 'AWS::IAM::Policy' && r.Type !== 'AWS::IAM::ManagedPolicy') continue;
    const roles = ((r.Properties?.Roles as unknown[]) ?? []).map((x) => flatten(x));
    if (roles.includes(`<${roleLogicalId}>`)) out.push(...(r.Properties!.PolicyDocument as { Statement: PolicyStatementJson[] }).Statement);
  }
  return out.filter((s) => s.Effect === 'Allow');
}

const asArray = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * A statement as one line — `actions on resources [condition]` with sorted actions — so a
 * role's whole policy reads as a short list a reviewer can check.
 */
export function describeStatement(s: PolicyStatementJson, names: Record<string, string> = {}): string {
  const actions = asArray(s.Action).slice().sort().join(',');
  const resources = asArray(s.Resource)
    .map((r) => flatten(r, names))
    .sort()
    .join(' ');
  const condition = s.Condition
    ? ` [${Object.entries(s.Condition)
        .flatMap(([op, kv]) => Object.entries(kv).map(([k, v]) => `${op} ${k}=${asArray(v as string | string[]).join('|')}`))
        .join('; ')}]`
    : '';
  return `${actions} on ${resources}${condition}`;
}

/** Every logical id a value refers to (Ref, GetAtt, ${X} in Fn::Sub). */
export function referencedIds(value: unknown, into: Set<string> = new Set()): Set<string> {
  if (Array.isArray(value)) for (const v of value) referencedIds(v, into);
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o.Ref === 'string') into.add(o.Ref);
    if (Array.isArray(o['Fn::GetAtt'])) into.add(String((o['Fn::GetAtt'] as unknown[])[0]));
    if (typeof o['Fn::Sub'] === 'string') for (const m of o['Fn::Sub'].matchAll(/\$\{([^}.]+)/g)) into.add(m[1]);
    for (const [k, v] of Object.entries(o)) if (k !== 'Ref' && k !== 'Fn::GetAtt') referencedIds(v, into);
  }
  return into;
}

/** The cycles CloudFormation would refuse ("Circular dependency between resources"), as lists of logical ids. */
export function dependencyCycles(template: CfnTemplate): string[][] {
  const ids = new Set(Object.keys(template.Resources));
  const edges = new Map<string, string[]>();
  for (const [id, r] of Object.entries(template.Resources)) {
    const deps = new Set([...referencedIds(r.Properties ?? {}), ...asArray(r.DependsOn)]);
    edges.set(
      id,
      [...deps].filter((d) => ids.has(d) && d !== id),
    );
  }
  const cycles: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (id: string) => {
    state.set(id, 'visiting');
    stack.push(id);
    for (const next of edges.get(id) ?? []) {
      if (state.get(next) === 'visiting') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(id, 'done');
  };
  for (const id of ids) if (!state.has(id)) visit(id);
  return cycles;
}
