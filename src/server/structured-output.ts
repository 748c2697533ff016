import type { ConstraintSpec } from '../grammar/token-constraint.js';
import { InvalidRequestError } from '../errors/engine-error.js';
import type { ServingEngine } from '../engine/serving-engine.js';
import { LOGIT_BIAS_RANGE } from '../sampling/logits-processors.js';
import { invalidParam } from './http-error.js';
import { z } from 'zod';
import { PARAM } from '../validation/field-issue.js';
import { isObject, optional, optionalBoolean, optionalString, refuse, stringField, type JsonObject } from '../validation/request-fields.js';

/** A request's output constraint and the field it came from (400s name that field). */
export interface RequestConstraint {
  readonly spec: ConstraintSpec;
  readonly param: string;
}

const NAME_PATTERN = /^[a-zA-Z0-9_-]{1,64}$/;

/** a JSON Schema: an object, or (vLLM's guided_json) its JSON text; `true` (any value) reads as `{}` */
const jsonSchemaValue = z
  .union([z.record(z.string(), z.unknown()), z.string(), z.literal(true)], { error: `'${PARAM}' must be a JSON Schema object` })
  .transform((value, ctx): JsonObject => {
    if (value === true) return {};
    if (typeof value !== 'string') return value;
    let schema: unknown;
    try {
      schema = JSON.parse(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: `'${PARAM}' is not valid JSON`, input: value });
      return z.NEVER;
    }
    if (schema === true) return {};
    if (!isObject(schema)) {
      ctx.addIssue({ code: 'custom', message: `'${PARAM}' must be a JSON Schema object`, input: value, params: { code: 'invalid_type' } });
      return z.NEVER;
    }
    return schema;
  });

const nonEmptyString = optional(stringField().refine((value) => value.trim() !== '', { error: `'${PARAM}' must not be empty` }));

/** OpenAI's `response_format`: `text`, `json_object`, or `json_schema` (its schema optional: without one the output is any JSON object). */
const responseFormat = z.discriminatedUnion(
  'type',
  [
    z.object({ type: z.literal('text') }),
    z.object({ type: z.literal('json_object') }),
    z.object({
      type: z.literal('json_schema'),
      json_schema: z.object({
        name: z.string().regex(NAME_PATTERN, { error: `'${PARAM}' must be 1 to 64 letters, digits, '_' or '-'` }),
        strict: optionalBoolean(),
        description: optionalString(),
        schema: optional(jsonSchemaValue),
      }),
    }),
  ],
  { error: (iss) => (isObject(iss.input) ? `'${PARAM}' must be 'text', 'json_object' or 'json_schema'` : `'${PARAM}' must be a JSON object`) },
);

/**
 * The output-constraint fields of a completion request: OpenAI's `response_format` or one of the
 * extension fields llama-server and vLLM take: `grammar` (GBNF, llama-server), `guided_json`,
 * `guided_regex`, `guided_grammar` (vLLM); and OpenAI's `logit_bias` (token id → bias, checked
 * against the vocabulary by readLogitBias).
 */
export const CONSTRAINT_SHAPE = {
  response_format: optional(responseFormat),
  grammar: nonEmptyString,
  guided_grammar: nonEmptyString,
  guided_regex: nonEmptyString,
  guided_json: optional(jsonSchemaValue),
  logit_bias: optional(z.record(z.string(), z.number({ error: `'${PARAM}' must be a number in [${LOGIT_BIAS_RANGE.min}, ${LOGIT_BIAS_RANGE.max}]` }))),
};

type ConstraintBody = z.output<z.ZodObject<typeof CONSTRAINT_SHAPE>>;

function constraintsOf(body: ConstraintBody): RequestConstraint[] {
  const found: RequestConstraint[] = [];
  const format = body.response_format;
  if (format?.type === 'json_object') found.push({ spec: { type: 'json_object' }, param: 'response_format' });
  if (format?.type === 'json_schema') {
    const schema = format.json_schema.schema;
    found.push({ spec: schema === undefined ? { type: 'json_object' } : { type: 'json_schema', schema }, param: 'response_format' });
  }
  for (const key of ['grammar', 'guided_grammar'] as const) {
    const grammar = body[key];
    if (grammar !== undefined) found.push({ spec: { type: 'gbnf', grammar }, param: key });
  }
  if (body.guided_regex !== undefined) found.push({ spec: { type: 'regex', pattern: body.guided_regex }, param: 'guided_regex' });
  if (body.guided_json !== undefined) found.push({ spec: { type: 'json_schema', schema: body.guided_json }, param: 'guided_json' });
  return found;
}

/** At most one field may constrain a request. */
export function refineConstraint(body: ConstraintBody, ctx: z.RefinementCtx): void {
  const found = constraintsOf(body);
  if (found.length > 1) refuse(ctx, [found[1]!.param], `only one of ${found.map((f) => `'${f.param}'`).join(', ')} may constrain a request`);
}

/** The request's output constraint and the field it came from (after refineConstraint). */
export function toRequestConstraint(body: ConstraintBody): RequestConstraint | undefined {
  return constraintsOf(body)[0];
}

/**
 * Compiles the constraint now, on the request path (the compiler caches it per spec, so the engine's
 * compile for each choice finds it), turning a compile error into a 400 naming the field.
 */
export function checkConstraintCompiles(engine: ServingEngine, constraint: RequestConstraint | undefined): void {
  if (constraint === undefined) return;
  try {
    engine.constraints.compile(constraint.spec);
  } catch (err) {
    if (err instanceof InvalidRequestError) throw invalidParam(constraint.param, `'${constraint.param}': ${err.message}`);
    throw err;
  }
}

/** OpenAI `logit_bias` (parsed by CONSTRAINT_SHAPE): token id (a decimal string) → bias in [-100, 100]; ids checked against `vocabSize`. */
export function readLogitBias(bias: Readonly<Record<string, number>> | undefined, vocabSize: number): Record<number, number> | undefined {
  if (bias === undefined) return undefined;
  const result: Record<number, number> = {};
  for (const [key, v] of Object.entries(bias)) {
    if (!/^\d+$/.test(key) || Number(key) >= vocabSize) {
      throw invalidParam('logit_bias', `'logit_bias' key '${key}' is not a token id of this model (0..${vocabSize - 1})`);
    }
    if (!Number.isFinite(v) || v < LOGIT_BIAS_RANGE.min || v > LOGIT_BIAS_RANGE.max) {
      throw invalidParam('logit_bias', `'logit_bias' values must be numbers in [${LOGIT_BIAS_RANGE.min}, ${LOGIT_BIAS_RANGE.max}] (got ${JSON.stringify(v)} for '${key}')`);
    }
    result[Number(key)] = v;
  }
  return result;
}
