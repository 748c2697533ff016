import { InvalidRequestError } from '../../errors/engine-error.js';
import { HttpError, invalidParam } from '../http-error.js';
import type { RequestContext } from '../route.js';
import { sendResult } from '../send.js';
import { parseRequest } from '../parse-request.js';
import { checkServedModel } from '../served-model.js';
import { embeddingBody } from './schema.js';

/**
 * POST /v1/embeddings: every input is one pooling request of the engine (batched with whatever
 * else runs), tokenized with BOS/EOS as the model says (off the event loop). `dimensions` keeps
 * the first components and renormalizes (Matryoshka truncation); it is 400 beyond the model's
 * hidden size. An input beyond the context is 400 context_length_exceeded.
 */
export async function handleEmbeddings(ctx: RequestContext): Promise<void> {
  const request = parseRequest(embeddingBody, ctx.body);
  checkServedModel(request.model, ctx.servedModelNames);
  const hiddenSize = ctx.engine.model.config.hiddenSize;
  if (request.dimensions !== undefined && request.dimensions > hiddenSize) {
    throw invalidParam('dimensions', `'dimensions' is ${request.dimensions}; this model's embeddings have ${hiddenSize}`);
  }
  const normalize = request.normalize ?? true;
  let results;
  try {
    const inputIds = await Promise.all(
      request.inputs.map((input) => (typeof input === 'string' ? ctx.prompts.encodeText(input, { addSpecial: true, parseSpecial: false }) : input)),
    );
    results = await ctx.engine.embed(inputIds, { pooling: request.pooling, normalize, signal: ctx.signal });
  } catch (err) {
    if (err instanceof InvalidRequestError && err.code === 'PROMPT_TOO_LONG') {
      throw new HttpError(400, `${err.message}: shorten the input`, 'invalid_request_error', 'input', 'context_length_exceeded');
    }
    throw err;
  }
  const numTokens = results.reduce((sum, r) => sum + r.numTokens, 0);
  ctx.record.addUsage(numTokens, 0);
  sendResult(ctx, {
    object: 'list',
    data: results.map((r, index) => {
      const vector = request.dimensions === undefined ? r.embedding : truncate(r.embedding, request.dimensions, normalize);
      return { object: 'embedding', index, embedding: request.encodingFormat === 'base64' ? toBase64(vector) : Array.from(vector) };
    }),
    model: ctx.modelName,
    usage: { prompt_tokens: numTokens, total_tokens: numTokens },
  });
}

/** The first `dimensions` components, L2-normalized again when `normalize`. */
export function truncate(vector: Float32Array, dimensions: number, normalize: boolean): Float32Array {
  const out = vector.slice(0, dimensions);
  if (!normalize) return out;
  const norm = Math.sqrt(out.reduce((sum, v) => sum + v * v, 0));
  if (norm > 0) for (let i = 0; i < out.length; i++) out[i] = out[i]! / norm;
  return out;
}

/** little-endian float32s, base64: what OpenAI sends for encoding_format 'base64' */
export function toBase64(vector: Float32Array): string {
  const bytes = Buffer.alloc(vector.length * 4);
  vector.forEach((v, i) => bytes.writeFloatLE(v, i * 4));
  return bytes.toString('base64');
}
