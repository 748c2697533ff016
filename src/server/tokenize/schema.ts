import { invalidParam } from '../http-error.js';
import { optionalBoolean, requireObject } from '../validation.js';

/** POST /tokenize, as llama-server takes it. */
export interface TokenizeRequest {
  readonly content: string;
  /** add BOS/EOS as the model says (default false, as llama-server) */
  readonly addSpecial: boolean;
  /** read control-token text such as <|eot_id|> as those tokens (default true, as llama-server) */
  readonly parseSpecial: boolean;
  /** answer [{id, piece}] instead of ids */
  readonly isWithPieces: boolean;
}

/** POST /detokenize, as llama-server takes it. */
export interface DetokenizeRequest {
  readonly tokens: readonly number[];
}

export function parseTokenizeRequest(raw: unknown): TokenizeRequest {
  const body = requireObject(raw, 'body');
  if (body.content === undefined || body.content === null) throw invalidParam('content', `'content' is required`, 'missing_required_parameter');
  if (typeof body.content !== 'string') throw invalidParam('content', `'content' must be a string`, 'invalid_type');
  return {
    content: body.content,
    addSpecial: optionalBoolean(body, 'add_special') ?? false,
    parseSpecial: optionalBoolean(body, 'parse_special') ?? true,
    isWithPieces: optionalBoolean(body, 'with_pieces') ?? false,
  };
}

/**
 * At most maxNumTokens ids (the context size: any prompt or output fits), as decoding runs on the
 * event loop (a 4 MB body of 1.5M ids held it ~250 ms).
 */
export function parseDetokenizeRequest(raw: unknown, vocabSize: number, maxNumTokens: number): DetokenizeRequest {
  const body = requireObject(raw, 'body');
  const tokens = body.tokens;
  if (tokens === undefined || tokens === null) throw invalidParam('tokens', `'tokens' is required`, 'missing_required_parameter');
  if (!Array.isArray(tokens)) throw invalidParam('tokens', `'tokens' must be an array of token ids`, 'invalid_type');
  if (tokens.length > maxNumTokens) {
    throw invalidParam('tokens', `'tokens' holds ${tokens.length} ids; at most the context size, ${maxNumTokens}, are detokenized at once`);
  }
  tokens.forEach((id: unknown, index) => {
    if (typeof id !== 'number' || !Number.isInteger(id)) throw invalidParam(`tokens[${index}]`, `'tokens[${index}]' must be an integer token id`, 'invalid_type');
    if (id < 0 || id >= vocabSize) throw invalidParam(`tokens[${index}]`, `'tokens[${index}]' is ${id}; token ids are from 0 to ${vocabSize - 1}`);
  });
  return { tokens: tokens as number[] };
}
