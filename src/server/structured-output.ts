import type { ConstraintSpec } from '../grammar/token-constraint.js';
import { InvalidRequestError } from '../errors/engine-error.js';
import type { ServingEngine } from '../engine/serving-engine.js';
import { LOGIT_BIAS_RANGE } from '../sampling/logits-processors.js';
import { invalidParam } from './http-error.js';
import { isObject, requireObject, type JsonObject } from './validation.js';

/** A request's output constraint and the field it came from (400s name that field). */
export interface RequestConstraint {
  readonly spec: ConstraintSpec;
  readonly param: string;
}

/**
 * The output constraint of a completion request, from OpenAI's `response_format` (`text`,
 * `json_object`, `json_schema`) or one of the extension fields llama-server and vLLM take: `grammar`
 * (GBNF, llama-server), `guided_json`, `guided_regex`, `guided_grammar` (vLLM). At most one may
 * constrain a request.
 */
export function readRequestConstraint(body: JsonObject): RequestConstraint | undefined {
  const found: RequestConstraint[] = [];
  const format = readResponseFormat(body.response_format);
  if (format) found.push({ spec: format, param: 'response_format' });
  for (const key of ['grammar', 'guided_grammar'] as const) {
    const grammar = optionalNonEmptyString(body, key);
    if (grammar !== undefined) found.push({ spec: { type: 'gbnf', grammar }, param: key });
  }
  const regex = optionalNonEmptyString(body, 'guided_regex');
  if (regex !== undefined) found.push({ spec: { type: 'regex', pattern: regex }, param: 'guided_regex' });
  const guidedJson = body.guided_json;
  if (guidedJson !== undefined && guidedJson !== null) {
    found.push({ spec: { type: 'json_schema', schema: readSchema(guidedJson, 'guided_json') }, param: 'guided_json' });
  }
  if (found.length > 1) {
    throw invalidParam(found[1]!.param, `only one of ${found.map((f) => `'${f.param}'`).join(', ')} may constrain a request`);
  }
  return found[0];
}

function readResponseFormat(value: unknown): ConstraintSpec | undefined {
  if (value === undefined || value === null) return undefined;
  const format = requireObject(value, 'response_format');
  switch (format.type) {
    case 'text':
      return undefined;
    case 'json_object':
      return { type: 'json_object' };
    case 'json_schema': {
      const jsonSchema = requireObject(format.json_schema, 'response_format.json_schema');
      if (typeof jsonSchema.name !== 'string' || !/^[a-zA-Z0-9_-]{1,64}$/.test(jsonSchema.name)) {
        throw invalidParam('response_format.json_schema.name', `'response_format.json_schema.name' must be 1 to 64 letters, digits, '_' or '-'`);
      }
      for (const key of ['strict', 'description'] as const) {
        const v = jsonSchema[key];
        if (v !== undefined && v !== null && typeof v !== (key === 'strict' ? 'boolean' : 'string')) {
          throw invalidParam(`response_format.json_schema.${key}`, `'response_format.json_schema.${key}' must be a ${key === 'strict' ? 'boolean' : 'string'}`, 'invalid_type');
        }
      }
      // OpenAI makes the schema optional: without one the output is any JSON object
      if (jsonSchema.schema === undefined || jsonSchema.schema === null) return { type: 'json_object' };
      return { type: 'json_schema', schema: readSchema(jsonSchema.schema, 'response_format.json_schema.schema') };
    }
    default:
      throw invalidParam('response_format.type', `'response_format.type' must be 'text', 'json_object' or 'json_schema'`, 'unsupported_value');
  }
}

/** a JSON Schema: an object, or (vLLM's guided_json) its JSON text */
function readSchema(value: unknown, param: string): JsonObject {
  let schema = value;
  if (typeof value === 'string') {
    try {
      schema = JSON.parse(value);
    } catch {
      throw invalidParam(param, `'${param}' is not valid JSON`);
    }
  }
  if (!isObject(schema) && schema !== true) throw invalidParam(param, `'${param}' must be a JSON Schema object`, 'invalid_type');
  return isObject(schema) ? schema : {};
}

function optionalNonEmptyString(body: JsonObject, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidParam(key, `'${key}' must be a string`, 'invalid_type');
  if (value.trim() === '') throw invalidParam(key, `'${key}' must not be empty`);
  return value;
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

/** OpenAI `logit_bias`: token id (a decimal string) → bias in [-100, 100]; ids checked against `vocabSize`. */
export function readLogitBias(body: JsonObject, vocabSize: number): Record<number, number> | undefined {
  const value = body.logit_bias;
  if (value === undefined || value === null) return undefined;
  const bias = requireObject(value, 'logit_bias');
  const result: Record<number, number> = {};
  for (const [key, v] of Object.entries(bias)) {
    if (!/^\d+$/.test(key) || Number(key) >= vocabSize) {
      throw invalidParam('logit_bias', `'logit_bias' key '${key}' is not a token id of this model (0..${vocabSize - 1})`);
    }
    if (typeof v !== 'number' || !Number.isFinite(v) || v < LOGIT_BIAS_RANGE.min || v > LOGIT_BIAS_RANGE.max) {
      throw invalidParam('logit_bias', `'logit_bias' values must be numbers in [${LOGIT_BIAS_RANGE.min}, ${LOGIT_BIAS_RANGE.max}] (got ${JSON.stringify(v)} for '${key}')`);
    }
    result[Number(key)] = v;
  }
  return result;
}
