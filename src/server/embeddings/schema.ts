import { POOLING_TYPES, type PoolingType } from '../../engine/embedding-options.js';
import { invalidParam } from '../http-error.js';
import { optionalBoolean, optionalNumber, requireObject } from '../validation.js';

/** OpenAI's limit on inputs per request. */
export const MAX_EMBEDDING_INPUTS = 2048;

/** POST /v1/embeddings, OpenAI's fields plus the `pooling` and `normalize` extensions. */
export interface EmbeddingRequest {
  readonly model: unknown;
  /** texts, or token-id arrays used as they are */
  readonly inputs: readonly (string | readonly number[])[];
  readonly encodingFormat: 'float' | 'base64';
  /** keep the first `dimensions` components (then renormalize when normalizing) */
  readonly dimensions: number | undefined;
  readonly pooling: PoolingType | undefined;
  readonly normalize: boolean | undefined;
}

/**
 * `input` as OpenAI takes it: a string, an array of strings, an array of token ids, or an array of
 * token-id arrays; none empty, at most MAX_EMBEDDING_INPUTS. Ids are checked against the
 * vocabulary by the engine. `user` is accepted and ignored.
 */
export function parseEmbeddingRequest(raw: unknown): EmbeddingRequest {
  const body = requireObject(raw, 'body');
  const encodingFormat = body.encoding_format ?? 'float';
  if (encodingFormat !== 'float' && encodingFormat !== 'base64') {
    throw invalidParam('encoding_format', `'encoding_format' must be 'float' or 'base64'`);
  }
  const pooling = body.pooling ?? undefined;
  if (pooling !== undefined && !POOLING_TYPES.includes(pooling as PoolingType)) {
    throw invalidParam('pooling', `'pooling' must be one of ${POOLING_TYPES.map((p) => `'${p}'`).join(', ')}`);
  }
  if (body.user !== undefined && body.user !== null && typeof body.user !== 'string') throw invalidParam('user', `'user' must be a string`, 'invalid_type');
  return {
    model: body.model,
    inputs: parseInput(body.input),
    encodingFormat,
    dimensions: optionalNumber(body, 'dimensions', { min: 1, isInteger: true }),
    pooling: pooling as PoolingType | undefined,
    normalize: optionalBoolean(body, 'normalize'),
  };
}

function parseInput(input: unknown): (string | number[])[] {
  if (input === undefined || input === null) throw invalidParam('input', `'input' is required`, 'missing_required_parameter');
  if (typeof input === 'string') return [nonEmptyText(input, 'input')];
  if (!Array.isArray(input)) throw invalidParam('input', `'input' must be a string, an array of strings or an array of token ids`, 'invalid_type');
  if (input.length === 0) throw invalidParam('input', `'input' must not be empty`);
  if (input.length > MAX_EMBEDDING_INPUTS) throw invalidParam('input', `'input' holds ${input.length} items; at most ${MAX_EMBEDDING_INPUTS}`);
  if (input.every((item) => typeof item === 'number')) return [tokenIds(input, 'input')];
  return input.map((item: unknown, i) => {
    const param = `input[${i}]`;
    if (typeof item === 'string') return nonEmptyText(item, param);
    if (Array.isArray(item)) {
      if (item.length === 0) throw invalidParam(param, `'${param}' must not be empty`);
      return tokenIds(item, param);
    }
    throw invalidParam(param, `'${param}' must be a string or an array of token ids`, 'invalid_type');
  });
}

function nonEmptyText(text: string, param: string): string {
  if (text === '') throw invalidParam(param, `'${param}' must not be an empty string`);
  return text;
}

function tokenIds(items: unknown[], param: string): number[] {
  items.forEach((id, i) => {
    if (typeof id !== 'number' || !Number.isInteger(id)) throw invalidParam(`${param}[${i}]`, `'${param}[${i}]' must be an integer token id`, 'invalid_type');
  });
  return items as number[];
}
