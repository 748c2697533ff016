import { z } from 'zod';
import { PARAM } from './field-issue.js';

/**
 * zod builders for the fields OpenAI request bodies share. As the OpenAI API does, an optional
 * field sent as `null` counts as absent. Messages name the field as `{param}` (field-issue.ts
 * fills in its path).
 */
export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const name = `'${PARAM}'`;

export interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  /** exclusive lower bound */
  readonly above?: number;
  readonly isInteger?: boolean;
}

/** A number within `range` (all its bounds named in the message when one is broken). */
export function numberIn(range: NumberRange = {}) {
  const { min, max, above, isInteger } = range;
  const bounds = [min !== undefined ? `>= ${min}` : undefined, above !== undefined ? `> ${above}` : undefined, max !== undefined ? `<= ${max}` : undefined]
    .filter(Boolean)
    .join(' and ');
  const outOfRange = { error: (iss: { input?: unknown }) => `${name} must be ${bounds} (got ${String(iss.input)})` };
  let schema = z.number({ error: `${name} must be a number` });
  if (isInteger) schema = schema.int({ error: `${name} must be an integer` });
  if (min !== undefined) schema = schema.min(min, outOfRange);
  if (above !== undefined) schema = schema.gt(above, outOfRange);
  if (max !== undefined) schema = schema.max(max, outOfRange);
  return schema;
}

/** `schema`, or undefined when the field is absent or null. */
export function optional<T extends z.ZodType>(schema: T) {
  return schema.nullish().transform((value) => value ?? undefined);
}

/** `schema`, or `fallback` when the field is absent or null. */
export function withDefault<T extends z.ZodType>(schema: T, fallback: z.output<T>) {
  return schema.nullish().transform((value): z.output<T> => value ?? fallback);
}

export const optionalNumber = (range: NumberRange = {}) => optional(numberIn(range));
export const booleanField = () => z.boolean({ error: `${name} must be a boolean` });
export const stringField = () => z.string({ error: `${name} must be a string` });
export const optionalBoolean = () => optional(booleanField());
export const optionalString = () => optional(stringField());

/** Adds a 400 naming `path` (relative to the refined value) to a refinement; `code` is the OpenAI error code. */
export function refuse(ctx: z.RefinementCtx, path: PropertyKey[], message: string, code = 'invalid_value'): void {
  ctx.addIssue({ code: 'custom', path, message, params: { code } });
}
