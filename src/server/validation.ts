import type { GenerationOptions } from '../engine/generation-options.js';
import { HttpError, invalidParam } from './http-error.js';
import { REPETITION_PENALTY_RANGE } from '../sampling/sampling-params.js';

/**
 * Small hand-written schema readers for OpenAI request bodies. Each reads one field, checks its
 * type and range, and throws a 400 naming the field (`param`) on the first problem.
 */
export type JsonObject = Record<string, unknown>;

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

export function requireObject(value: unknown, param: string): JsonObject {
  if (!isObject(value)) throw invalidParam(param, `'${param}' must be a JSON object`, 'invalid_type');
  return value;
}

interface NumberRange {
  readonly min?: number;
  readonly max?: number;
  /** exclusive lower bound */
  readonly above?: number;
  readonly isInteger?: boolean;
}

/** An optional number; `null` counts as absent (as the OpenAI API accepts). */
export function optionalNumber(body: JsonObject, key: string, range: NumberRange = {}): number | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw invalidParam(key, `'${key}' must be a number`, 'invalid_type');
  }
  if (range.isInteger && !Number.isInteger(value)) throw invalidParam(key, `'${key}' must be an integer`, 'invalid_type');
  const { min, max, above } = range;
  if ((min !== undefined && value < min) || (max !== undefined && value > max) || (above !== undefined && value <= above)) {
    const bounds = [
      min !== undefined ? `>= ${min}` : undefined,
      above !== undefined ? `> ${above}` : undefined,
      max !== undefined ? `<= ${max}` : undefined,
    ].filter(Boolean);
    throw invalidParam(key, `'${key}' must be ${bounds.join(' and ')} (got ${value})`);
  }
  return value;
}

export function optionalBoolean(body: JsonObject, key: string): boolean | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'boolean') throw invalidParam(key, `'${key}' must be a boolean`, 'invalid_type');
  return value;
}

export function optionalString(body: JsonObject, key: string): string | undefined {
  const value = body[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') throw invalidParam(key, `'${key}' must be a string`, 'invalid_type');
  return value;
}

/** `stop`: a string or an array of up to 4 non-empty strings. */
export function optionalStop(body: JsonObject): string[] | undefined {
  const value = body.stop;
  if (value === undefined || value === null) return undefined;
  const list = typeof value === 'string' ? [value] : value;
  if (!Array.isArray(list) || list.some((s) => typeof s !== 'string')) {
    throw invalidParam('stop', `'stop' must be a string or an array of strings`, 'invalid_type');
  }
  if (list.length > 4) throw invalidParam('stop', `'stop' may hold at most 4 strings (got ${list.length})`);
  if (list.some((s) => s === '')) throw invalidParam('stop', `'stop' strings must not be empty`);
  return list as string[];
}

/** `stream_options`: only `include_usage` is understood, and only with `stream: true`. */
export function optionalStreamOptions(body: JsonObject, isStream: boolean): { isUsageIncluded: boolean } {
  const value = body.stream_options;
  if (value === undefined || value === null) return { isUsageIncluded: false };
  const options = requireObject(value, 'stream_options');
  if (!isStream) throw invalidParam('stream_options', `'stream_options' is only allowed with 'stream: true'`);
  const includeUsage = options.include_usage;
  if (includeUsage !== undefined && includeUsage !== null && typeof includeUsage !== 'boolean') {
    throw invalidParam('stream_options.include_usage', `'stream_options.include_usage' must be a boolean`, 'invalid_type');
  }
  return { isUsageIncluded: includeUsage === true };
}

/** The sampling fields both completion endpoints share, in engine names. */
export interface SamplingFields {
  readonly maxTokens: number | undefined;
  /** the field maxTokens came from (chat takes max_completion_tokens, or the older max_tokens) */
  readonly maxTokensParam: 'max_tokens' | 'max_completion_tokens';
  readonly temperature: number | undefined;
  readonly topP: number | undefined;
  readonly topK: number | undefined;
  readonly minP: number | undefined;
  readonly seed: number | undefined;
  readonly presencePenalty: number | undefined;
  readonly frequencyPenalty: number | undefined;
  readonly repetitionPenalty: number | undefined;
  readonly stop: string[] | undefined;
  readonly ignoreEos: boolean | undefined;
  readonly numChoices: number;
  readonly isStream: boolean;
  readonly isUsageIncluded: boolean;
}

export const MAX_NUM_CHOICES = 16;

export function readSamplingFields(body: JsonObject, maxTokensKey: 'max_tokens' | 'max_completion_tokens' = 'max_tokens'): SamplingFields {
  const isStream = optionalBoolean(body, 'stream') ?? false;
  const given = optionalNumber(body, maxTokensKey, { min: 1, isInteger: true });
  const maxTokensParam = given === undefined && maxTokensKey === 'max_completion_tokens' ? 'max_tokens' : maxTokensKey;
  const maxTokens = given ?? (maxTokensParam === maxTokensKey ? undefined : optionalNumber(body, 'max_tokens', { min: 1, isInteger: true }));
  return {
    maxTokens,
    maxTokensParam,
    temperature: optionalNumber(body, 'temperature', { min: 0, max: 2 }),
    topP: optionalNumber(body, 'top_p', { above: 0, max: 1 }),
    topK: optionalNumber(body, 'top_k', { min: -1, isInteger: true }),
    minP: optionalNumber(body, 'min_p', { min: 0, max: 1 }),
    seed: optionalNumber(body, 'seed', { min: 0, max: 2 ** 32 - 1, isInteger: true }),
    presencePenalty: optionalNumber(body, 'presence_penalty', { min: -2, max: 2 }),
    frequencyPenalty: optionalNumber(body, 'frequency_penalty', { min: -2, max: 2 }),
    repetitionPenalty: optionalNumber(body, 'repetition_penalty', REPETITION_PENALTY_RANGE),
    stop: optionalStop(body),
    ignoreEos: optionalBoolean(body, 'ignore_eos'),
    numChoices: optionalNumber(body, 'n', { min: 1, max: MAX_NUM_CHOICES, isInteger: true }) ?? 1,
    isStream,
    ...optionalStreamOptions(body, isStream),
  };
}

/** `model`, when given, must name the served model by its name or an alias (the OpenAI clients always send one). */
export function checkServedModel(value: unknown, servedModelNames: readonly string[]): void {
  if (value === undefined || value === null) return;
  if (typeof value !== 'string') throw invalidParam('model', `'model' must be a string`, 'invalid_type');
  if (!servedModelNames.includes(value)) {
    const names = servedModelNames.map((name) => `'${name}'`);
    const served = names.length === 1 ? names[0] : `${names[0]} (also named ${names.slice(1).join(', ')})`;
    throw new HttpError(404, `The model '${value}' does not exist; this server serves ${served}`, 'invalid_request_error', 'model', 'model_not_found');
  }
}

/**
 * 400 when the prompt and max_tokens together exceed the context, as vLLM answers (the engine
 * would cut the output short at the context's end). Call it once the prompt is tokenized; a prompt
 * that does not fit by itself is left to the engine's PROMPT_TOO_LONG.
 */
export function checkMaxTokensFit(numPromptTokens: number, fields: SamplingFields, contextSize: number): void {
  const { maxTokens, maxTokensParam } = fields;
  if (maxTokens === undefined || numPromptTokens > contextSize || numPromptTokens + maxTokens <= contextSize) return;
  throw new HttpError(
    400,
    `'${maxTokensParam}' is too large: ${maxTokens}. This model's maximum context length is ${contextSize} tokens and your request has ` +
      `${numPromptTokens} input tokens (${maxTokens} > ${contextSize} - ${numPromptTokens})`,
    'invalid_request_error',
    maxTokensParam,
    'context_length_exceeded',
  );
}

/** The engine's options for the shared sampling fields (vLLM's top_k -1 = off is the engine's 0). */
export function toGenerationOptions(fields: SamplingFields): GenerationOptions {
  return {
    maxTokens: fields.maxTokens,
    temperature: fields.temperature,
    topP: fields.topP,
    topK: fields.topK === -1 ? 0 : fields.topK,
    minP: fields.minP,
    seed: fields.seed,
    presencePenalty: fields.presencePenalty,
    frequencyPenalty: fields.frequencyPenalty,
    repetitionPenalty: fields.repetitionPenalty,
    stop: fields.stop,
    ignoreEos: fields.ignoreEos,
  };
}
