import { z } from 'zod';
import type { GenerationOptions } from '../engine/generation-options.js';
import { REPETITION_PENALTY_RANGE } from '../sampling/sampling-params.js';
import { HttpError } from './http-error.js';
import { PARAM } from '../validation/field-issue.js';
import { booleanField, numberIn, optional, optionalBoolean, optionalNumber, refuse, withDefault } from '../validation/request-fields.js';

export const MAX_NUM_CHOICES = 16;
export const MAX_STOP_STRINGS = 4;

/** `stop`: a string or an array of up to 4 non-empty strings (as an array). */
const stopField = optional(z.union([z.string(), z.array(z.string())], { error: `'${PARAM}' must be a string or an array of strings` })).transform(
  (value, ctx) => {
    if (value === undefined) return undefined;
    const list = typeof value === 'string' ? [value] : value;
    if (list.length > MAX_STOP_STRINGS) refuse(ctx, [], `'stop' may hold at most ${MAX_STOP_STRINGS} strings (got ${list.length})`);
    else if (list.some((s) => s === '')) refuse(ctx, [], `'stop' strings must not be empty`);
    return list;
  },
);

const maxTokensField = () => optionalNumber({ min: 1, isInteger: true });

/** The sampling fields of both completion endpoints, in their wire names. */
export const SAMPLING_SHAPE = {
  max_tokens: maxTokensField(),
  temperature: optionalNumber({ min: 0, max: 2 }),
  top_p: optionalNumber({ above: 0, max: 1 }),
  top_k: optionalNumber({ min: -1, isInteger: true }),
  min_p: optionalNumber({ min: 0, max: 1 }),
  seed: optionalNumber({ min: 0, max: 2 ** 32 - 1, isInteger: true }),
  presence_penalty: optionalNumber({ min: -2, max: 2 }),
  frequency_penalty: optionalNumber({ min: -2, max: 2 }),
  repetition_penalty: optionalNumber(REPETITION_PENALTY_RANGE),
  stop: stopField,
  ignore_eos: optionalBoolean(),
  n: withDefault(numberIn({ min: 1, max: MAX_NUM_CHOICES, isInteger: true }), 1),
  stream: withDefault(booleanField(), false),
  /** only `include_usage` is understood, and only with `stream: true` (checkStreamOptions) */
  stream_options: optional(z.object({ include_usage: optionalBoolean() })),
};

type SamplingBody = z.output<z.ZodObject<typeof SAMPLING_SHAPE>> & { readonly max_completion_tokens?: number | undefined };

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

/** The checks across sampling fields: `stream_options` only with `stream: true`. */
export function refineSampling(body: SamplingBody, ctx: z.RefinementCtx): void {
  if (body.stream_options !== undefined && !body.stream) refuse(ctx, ['stream_options'], `'stream_options' is only allowed with 'stream: true'`);
}

/** The parsed sampling fields in engine names (chat's max_completion_tokens wins over the older max_tokens). */
export function toSamplingFields(body: SamplingBody): SamplingFields {
  const isCompletionTokens = body.max_completion_tokens !== undefined;
  return {
    maxTokens: isCompletionTokens ? body.max_completion_tokens : body.max_tokens,
    maxTokensParam: isCompletionTokens ? 'max_completion_tokens' : 'max_tokens',
    temperature: body.temperature,
    topP: body.top_p,
    topK: body.top_k,
    minP: body.min_p,
    seed: body.seed,
    presencePenalty: body.presence_penalty,
    frequencyPenalty: body.frequency_penalty,
    repetitionPenalty: body.repetition_penalty,
    stop: body.stop,
    ignoreEos: body.ignore_eos,
    numChoices: body.n,
    isStream: body.stream,
    isUsageIncluded: body.stream_options?.include_usage === true,
  };
}

/** chat's `max_completion_tokens` (OpenAI's newer name for max_tokens) */
export const MAX_COMPLETION_TOKENS_SHAPE = { max_completion_tokens: maxTokensField() };

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
