/**
 * Enough of IAM's policy evaluation to answer "may this role make this call?" for the
 * statements our stack synthesizes: Allow/Deny, Action/NotAction and Resource/NotResource with
 * `*` and `?` wildcards, and the condition operators the stack uses (String*, with the
 * `ForAllValues:`/`ForAnyValue:` set qualifiers, `Bool`, `Null`). An operator it does not know
 * makes its statement match nothing (fail closed), so the check can only be too strict.
 */
import type { IamRequest } from './aws-call-recorder.js';

/** A statement whose resources are already concrete strings (intrinsics resolved). */
export interface ResolvedStatement {
  Effect: 'Allow' | 'Deny';
  Action?: string[];
  NotAction?: string[];
  Resource?: string[];
  NotResource?: string[];
  Condition?: Record<string, Record<string, unknown>>;
}

const patternCache = new Map<string, RegExp>();
/** IAM wildcard matching: `*` any run of characters (slashes included), `?` one character. */
export function wildcardMatch(pattern: string, value: string, caseInsensitive = false): boolean {
  const cacheKey = `${caseInsensitive ? 'i' : 's'}${pattern}`;
  let re = patternCache.get(cacheKey);
  if (!re) {
    const body = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    re = new RegExp(`^${body}$`, caseInsensitive ? 'is' : 's');
    patternCache.set(cacheKey, re);
  }
  return re.test(value);
}

const asStrings = (v: unknown): string[] => (v === undefined ? [] : (Array.isArray(v) ? v : [v]).map(String));

/** One condition operator over one key: does the request satisfy it? */
function operatorHolds(operator: string, expected: string[], actual: string[] | undefined): boolean {
  const [qualifier, base] = operator.includes(':') ? (operator.split(':', 2) as [string, string]) : ['', operator];
  const ifExists = base.endsWith('IfExists');
  const op = ifExists ? base.slice(0, -'IfExists'.length) : base;
  const one = (value: string): boolean | undefined => {
    switch (op) {
      case 'StringEquals':
        return expected.includes(value);
      case 'StringNotEquals':
        return !expected.includes(value);
      case 'StringEqualsIgnoreCase':
        return expected.some((e) => e.toLowerCase() === value.toLowerCase());
      case 'StringLike':
        return expected.some((e) => wildcardMatch(e, value));
      case 'StringNotLike':
        return !expected.some((e) => wildcardMatch(e, value));
      case 'Bool':
        return expected.some((e) => e.toLowerCase() === value.toLowerCase());
      default:
        return undefined;
    }
  };
  if (op === 'Null') return expected.some((e) => (e === 'true') === (actual === undefined || actual.length === 0));
  if (one('') === undefined) return false; // an operator this evaluator does not know
  if (qualifier === 'ForAllValues') return (actual ?? []).every((v) => one(v) === true); // true for an absent key, as in IAM
  if (qualifier === 'ForAnyValue') return (actual ?? []).some((v) => one(v) === true);
  if (qualifier) return false;
  if (actual === undefined || actual.length === 0) return ifExists;
  return actual.some((v) => one(v) === true);
}

function conditionsHold(condition: ResolvedStatement['Condition'], request: IamRequest): boolean {
  for (const [operator, keys] of Object.entries(condition ?? {})) {
    for (const [key, expected] of Object.entries(keys)) {
      if (!operatorHolds(operator, asStrings(expected), request.conditions[key.toLowerCase()])) return false;
    }
  }
  return true;
}

/** Does this statement apply to the request (action, resource and every condition)? */
export function statementMatches(s: ResolvedStatement, request: IamRequest): boolean {
  const action = s.Action
    ? s.Action.some((a) => wildcardMatch(a, request.action, true))
    : !(s.NotAction ?? []).some((a) => wildcardMatch(a, request.action, true));
  if (!action) return false;
  const resource = s.Resource
    ? s.Resource.some((r) => wildcardMatch(r, request.resource))
    : !(s.NotResource ?? []).some((r) => wildcardMatch(r, request.resource));
  return resource && conditionsHold(s.Condition, request);
}

/** IAM's answer for one identity policy set: allowed when some Allow matches and no Deny does. */
export function isAllowed(statements: ResolvedStatement[], request: IamRequest): boolean {
  if (statements.some((s) => s.Effect === 'Deny' && statementMatches(s, request))) return false;
  return statements.some((s) => s.Effect === 'Allow' && statementMatches(s, request));
}
