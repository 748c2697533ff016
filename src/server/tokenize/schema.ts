import { z } from 'zod';
import { PARAM } from '../../validation/field-issue.js';
import { refuse, stringField, withDefault, booleanField } from '../../validation/request-fields.js';

/** POST /tokenize, as llama-server takes it. */
export const tokenizeBody = z
  .object({
    content: stringField(),
    /** add BOS/EOS as the model says (default false, as llama-server) */
    add_special: withDefault(booleanField(), false),
    /** read control-token text such as <|eot_id|> as those tokens (default true, as llama-server) */
    parse_special: withDefault(booleanField(), true),
    /** answer [{id, piece}] instead of ids */
    with_pieces: withDefault(booleanField(), false),
  })
  .transform((body) => ({ content: body.content, addSpecial: body.add_special, parseSpecial: body.parse_special, isWithPieces: body.with_pieces }));

export type TokenizeRequest = z.output<typeof tokenizeBody>;

const tokenId = z.number({ error: `'${PARAM}' must be an integer token id` }).int({ error: `'${PARAM}' must be an integer token id` });

/** POST /detokenize, as llama-server takes it: {tokens: [ids]}. */
export const detokenizeBody = z.object({ tokens: z.array(tokenId, { error: `'${PARAM}' must be an array of token ids` }) });

export type DetokenizeRequest = z.output<typeof detokenizeBody>;

/**
 * The ids checked against the model: at most maxNumTokens of them (the context size: any prompt or
 * output fits), as decoding runs on the event loop (a 4 MB body of 1.5M ids held it ~250 ms), each
 * in the vocabulary.
 */
export function detokenizeBodyFor(vocabSize: number, maxNumTokens: number) {
  return detokenizeBody.superRefine(({ tokens }, ctx) => {
    if (tokens.length > maxNumTokens) {
      refuse(ctx, ['tokens'], `'tokens' holds ${tokens.length} ids; at most the context size, ${maxNumTokens}, are detokenized at once`);
      return;
    }
    const index = tokens.findIndex((id) => id < 0 || id >= vocabSize);
    if (index >= 0) refuse(ctx, ['tokens', index], `'tokens[${index}]' is ${tokens[index]}; token ids are from 0 to ${vocabSize - 1}`);
  });
}
