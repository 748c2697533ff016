import type { z } from 'zod';
import { fieldIssue } from '../validation/field-issue.js';
import { invalidParam } from './http-error.js';

/**
 * Parses a request body with its endpoint's zod schema; the first issue becomes the 400 that
 * invalidParam gives (param = the field's path, e.g. `messages[0].content`; see fieldIssue).
 */
export function parseRequest<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const { param, message, code } = fieldIssue(result.error, raw);
  throw invalidParam(param, message, code);
}
