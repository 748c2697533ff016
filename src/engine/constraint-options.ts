import { InvalidRequestError } from '../errors/engine-error.js';
import type { ConstraintSpec } from '../grammar/token-constraint.js';
import { LOGIT_BIAS_RANGE, type LogitBias } from '../sampling/logits-processors.js';

/** What the output must look like, in OpenAI's `response_format` terms (engine field names). */
export type ResponseFormat =
  | { readonly type: 'text' }
  | { readonly type: 'json_object' }
  /** a JSON Schema the output must validate against (OpenAI's structured outputs subset) */
  | { readonly type: 'json_schema'; readonly schema: unknown };

/** The constraint fields of GenerationOptions: at most one of them may constrain a request. */
export interface ConstraintOptions {
  /** `json_object` / `json_schema` constrain the output; `text` (the default) does not */
  readonly responseFormat?: ResponseFormat;
  /** a GBNF grammar (llama.cpp's format) the output must match */
  readonly grammar?: string;
  /** any constraint spec (json_object, json_schema, gbnf, regex), e.g. a regex */
  readonly constraint?: ConstraintSpec;
  /** token id → bias added to its logit before sampling, in [-100, 100] (OpenAI's logit_bias) */
  readonly logitBias?: Readonly<Record<number, number>>;
}

/** The one spec the options ask for, or undefined; InvalidRequestError when several are given or one is malformed. */
export function resolveConstraintSpec(options: ConstraintOptions): ConstraintSpec | undefined {
  const specs: ConstraintSpec[] = [];
  const format = options.responseFormat;
  if (format !== undefined) {
    if (format.type === 'json_object') specs.push({ type: 'json_object' });
    else if (format.type === 'json_schema') specs.push({ type: 'json_schema', schema: format.schema });
    else if (format.type !== 'text') {
      throw new InvalidRequestError('INVALID_ARGUMENT', `responseFormat.type must be text, json_object or json_schema (got ${String((format as { type: unknown }).type)})`);
    }
  }
  if (options.grammar !== undefined) {
    if (typeof options.grammar !== 'string' || options.grammar.trim() === '') {
      throw new InvalidRequestError('INVALID_ARGUMENT', 'grammar must be a non-empty GBNF string');
    }
    specs.push({ type: 'gbnf', grammar: options.grammar });
  }
  if (options.constraint !== undefined) specs.push(options.constraint);
  if (specs.length > 1) {
    throw new InvalidRequestError('INVALID_ARGUMENT', 'give at most one of responseFormat (json_object / json_schema), grammar and constraint');
  }
  return specs[0];
}

/** logitBias in engine form (ids ascending), or undefined when empty; InvalidRequestError on a bad id or bias. */
export function resolveLogitBias(bias: Readonly<Record<number, number>> | undefined, vocabSize: number): LogitBias | undefined {
  if (bias === undefined) return undefined;
  if (typeof bias !== 'object' || bias === null || Array.isArray(bias)) {
    throw new InvalidRequestError('INVALID_ARGUMENT', 'logitBias must be an object of token id → bias');
  }
  const entries: [number, number][] = [];
  for (const [key, value] of Object.entries(bias)) {
    const tokenId = Number(key);
    if (!/^\d+$/.test(key) || !Number.isSafeInteger(tokenId) || tokenId >= vocabSize) {
      throw new InvalidRequestError('INVALID_ARGUMENT', `logitBias key '${key}' is not a token id of this model (0..${vocabSize - 1})`);
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < LOGIT_BIAS_RANGE.min || value > LOGIT_BIAS_RANGE.max) {
      throw new InvalidRequestError(
        'INVALID_ARGUMENT',
        `logitBias for token ${key} must be a number in [${LOGIT_BIAS_RANGE.min}, ${LOGIT_BIAS_RANGE.max}] (got ${String(value)})`,
      );
    }
    if (value !== 0) entries.push([tokenId, value]);
  }
  if (entries.length === 0) return undefined;
  entries.sort((a, b) => a[0] - b[0]);
  return { tokenIds: Int32Array.from(entries, (e) => e[0]), biases: Float32Array.from(entries, (e) => e[1]) };
}
