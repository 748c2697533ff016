import { z } from 'zod';
import { POOLING_TYPES, type PoolingType } from '../../engine/embedding-options.js';
import { PARAM } from '../../validation/field-issue.js';
import { numberIn, optional, optionalBoolean, optionalString, refuse, withDefault } from '../../validation/request-fields.js';

/** OpenAI's limit on inputs per request. */
export const MAX_EMBEDDING_INPUTS = 2048;

const text = z.string().min(1, { error: `'${PARAM}' must not be an empty string` });
const tokenId = z.number().int({ error: `'${PARAM}' must be an integer token id` });
const tokenIds = z.array(tokenId).min(1, { error: `'${PARAM}' must not be empty` });

/**
 * `input` as OpenAI takes it: a string, an array of strings, an array of token ids, or an array of
 * token-id arrays; none empty, at most MAX_EMBEDDING_INPUTS. Ids are checked against the
 * vocabulary by the engine.
 */
const inputField = z.union(
  [
    text,
    z
      .array(z.union([text, tokenId, tokenIds], { error: `'${PARAM}' must be a string or an array of token ids` }))
      .min(1, { error: `'${PARAM}' must not be empty` })
      .max(MAX_EMBEDDING_INPUTS, { error: (iss) => `'${PARAM}' holds ${(iss.input as unknown[]).length} items; at most ${MAX_EMBEDDING_INPUTS}` }),
  ],
  { error: `'${PARAM}' must be a string, an array of strings or an array of token ids` },
);

/** POST /v1/embeddings, OpenAI's fields plus the `pooling` and `normalize` extensions; `user` is accepted and ignored. */
export const embeddingBody = z
  .object({
    model: optionalString(),
    input: inputField,
    encoding_format: withDefault(z.enum(['float', 'base64'], { error: `'${PARAM}' must be 'float' or 'base64'` }), 'float'),
    /** keep the first `dimensions` components (then renormalize when normalizing) */
    dimensions: optional(numberIn({ min: 1, isInteger: true })),
    pooling: optional(z.enum(POOLING_TYPES as readonly [PoolingType, ...PoolingType[]], { error: `'${PARAM}' must be one of ${POOLING_TYPES.map((p) => `'${p}'`).join(', ')}` })),
    normalize: optionalBoolean(),
    user: optionalString(),
  })
  .superRefine(({ input }, ctx) => {
    // an array of token ids is one input; otherwise every item is a text or a token-id array
    if (!Array.isArray(input) || input.every((item) => typeof item === 'number')) return;
    const index = input.findIndex((item) => typeof item === 'number');
    if (index >= 0) refuse(ctx, ['input', index], `'input[${index}]' must be a string or an array of token ids`, 'invalid_type');
  })
  .transform((body) => ({
    model: body.model,
    /** texts, or token-id arrays used as they are */
    inputs: toInputs(body.input),
    encodingFormat: body.encoding_format,
    dimensions: body.dimensions,
    pooling: body.pooling,
    normalize: body.normalize,
  }));

export type EmbeddingRequest = z.output<typeof embeddingBody>;

function toInputs(input: string | (string | number | number[])[]): (string | number[])[] {
  if (typeof input === 'string') return [input];
  if (input.every((item) => typeof item === 'number')) return [input as number[]];
  return input as (string | number[])[];
}
