import type { z } from 'zod';

/** A request field that is wrong: its path as OpenAI names it (`messages[0].content`), why, and OpenAI's error code. */
export interface FieldIssue {
  readonly param: string;
  readonly message: string;
  /** e.g. `missing_required_parameter`, `invalid_type`, `invalid_value`, or a refinement's own */
  readonly code: string;
}

/**
 * The first issue of a failed parse of `raw`, as the field it names. A schema's own message may name
 * the field as `{param}`; issues without one get a message from their code.
 */
export function fieldIssue(error: z.ZodError, raw: unknown): FieldIssue {
  const issue = innermost(error.issues[0]!);
  const param = paramOf(issue.path);
  const input = valueAt(raw, issue.path);
  const message = input === undefined && (issue.code === 'invalid_type' || issue.code === 'invalid_union')
    ? `'${param}' is required`
    : issue.message.includes(PARAM) ? issue.message.replaceAll(PARAM, param) : defaultMessage(issue, param, input);
  return { param, message, code: codeOf(issue, input) };
}

/**
 * A union's failure, narrowed to the one option the value has the type of (its own issues then say
 * what is wrong inside), paths joined; the union's issue itself when no option or several fit.
 */
function innermost(issue: z.core.$ZodIssue): z.core.$ZodIssue {
  if (issue.code !== 'invalid_union') return issue;
  const fitting = issue.errors.filter((issues) => issues.length > 0 && !(issues[0]!.code === 'invalid_type' && issues[0]!.path.length === 0));
  if (fitting.length !== 1) return issue;
  const inner = fitting[0]![0]!;
  return innermost({ ...inner, path: [...issue.path, ...inner.path] } as z.core.$ZodIssue);
}

/** `['messages', 0, 'content']` → `messages[0].content`; the empty path is the body itself. */
export function paramOf(path: readonly PropertyKey[]): string {
  if (path.length === 0) return 'body';
  return path.map((key, i) => (typeof key === 'number' ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`)).join('');
}

/** The message slot for the field's path: a schema message `'{param}' must be ...` reads `'top_p' must be ...`. */
export const PARAM = '{param}';

function codeOf(issue: z.core.$ZodIssue, input: unknown): string {
  switch (issue.code) {
    case 'invalid_type':
      return input === undefined ? 'missing_required_parameter' : 'invalid_type';
    case 'invalid_union':
      if (input === undefined) return 'missing_required_parameter';
      // a tagged union's tag names no variant the schema has (response_format.type, tools[i].type)
      return 'note' in issue && issue.note === 'No matching discriminator' ? 'unsupported_value' : 'invalid_type';
    case 'custom':
      return typeof issue.params?.code === 'string' ? issue.params.code : 'invalid_value';
    default:
      return 'invalid_value';
  }
}

function defaultMessage(issue: z.core.$ZodIssue, param: string, input: unknown): string {
  const name = `'${param}'`;
  switch (issue.code) {
    case 'invalid_type':
      if (issue.expected === 'int') return `${name} must be an integer`;
      if (issue.expected === 'object') return `${name} must be ${param === 'body' ? 'a JSON object' : 'an object'}`;
      return `${name} must be ${/^[aeiou]/.test(issue.expected) ? 'an' : 'a'} ${issue.expected}`;
    case 'invalid_value':
      return `${name} must be ${issue.values.length === 1 ? '' : 'one of '}${issue.values.map((v) => JSON.stringify(v).replaceAll('"', "'")).join(', ')}`;
    case 'too_small':
      if (issue.origin === 'array' || issue.origin === 'string') return `${name} must not be empty`;
      return `${name} must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum} (got ${String(input)})`;
    case 'too_big':
      if (issue.origin === 'array') return `${name} holds ${Array.isArray(input) ? input.length : '?'} items; at most ${issue.maximum}`;
      return `${name} must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum} (got ${String(input)})`;
    case 'custom':
      return issue.message;
    default:
      return `${name}: ${issue.message}`;
  }
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
