import { z } from 'zod';
import { PARAM } from '../../validation/field-issue.js';
import { optional, optionalNumber, optionalString, refuse } from '../../validation/request-fields.js';
import { refineSampling, SAMPLING_SHAPE, toSamplingFields } from '../sampling-fields.js';
import { CONSTRAINT_SHAPE, refineConstraint, toRequestConstraint } from '../structured-output.js';

const text = z.string().min(1, { error: `'${PARAM}' must not be empty` });
const tokenIds = z
  .array(z.number().int().min(0, { error: `'${PARAM}' must be a non-negative integer token id` }), { error: `'${PARAM}' must be a string or an array of token ids` })
  .min(1, { error: `'${PARAM}' must not be empty` });
/** a batch: OpenAI's array of prompts; one prompt is taken, more are refused */
const batch = z.array(z.union([text, tokenIds]));

/** A non-empty string, a non-empty array of token ids, or a one-element batch of either. */
const promptField = z.union([text, tokenIds, batch], { error: `'${PARAM}' must be a string or an array of token ids` });

/** POST /v1/completions. Unknown fields are ignored; the OpenAI ones this server cannot honour are refused. */
export const completionBody = z
  .object({
    model: optionalString(),
    prompt: promptField,
    /** top alternatives per token (0..20); undefined = no logprobs */
    logprobs: optionalNumber({ min: 0, max: 20, isInteger: true }),
    echo: optional(z.boolean()),
    best_of: optional(z.number()),
    suffix: optional(z.string()),
    ...SAMPLING_SHAPE,
    ...CONSTRAINT_SHAPE,
  })
  .superRefine((body, ctx) => {
    if (body.echo === true) refuse(ctx, ['echo'], `'echo' is not supported`, 'unsupported_value');
    if (body.best_of !== undefined && body.best_of !== 1 && body.best_of !== body.n) refuse(ctx, ['best_of'], `'best_of' is not supported`, 'unsupported_value');
    if (body.suffix !== undefined) refuse(ctx, ['suffix'], `'suffix' is not supported`, 'unsupported_value');
    checkPrompt(body.prompt, ctx);
    refineSampling(body, ctx);
    refineConstraint(body, ctx);
  })
  .transform((body) => ({
    model: body.model,
    /** text, or token ids */
    prompt: toPrompt(body.prompt),
    numLogprobs: body.logprobs,
    constraint: toRequestConstraint(body),
    logitBias: body.logit_bias,
    ...toSamplingFields(body),
  }));

export type CompletionRequest = z.output<typeof completionBody>;

type PromptInput = z.output<typeof promptField>;

function isBatch(prompt: PromptInput): prompt is (string | number[])[] {
  return Array.isArray(prompt) && (prompt.length === 0 || typeof prompt[0] !== 'number');
}

function checkPrompt(prompt: PromptInput, ctx: z.RefinementCtx): void {
  if (!isBatch(prompt)) return;
  if (prompt.length === 0) refuse(ctx, ['prompt'], `'prompt' must not be empty`);
  else if (prompt.length > 1) refuse(ctx, ['prompt'], `batched prompts are not supported; send one prompt per request`, 'unsupported_value');
}

function toPrompt(prompt: PromptInput): string | number[] {
  return isBatch(prompt) ? prompt[0]! : (prompt as string | number[]);
}
