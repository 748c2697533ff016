import type { Route } from '../route.js';
import { sendJson } from '../send.js';
import { parseRequest } from '../parse-request.js';
import { detokenizeBody, detokenizeBodyFor, tokenizeBody } from './schema.js';

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * POST /tokenize, llama-server's: {content, add_special?, parse_special?, with_pieces?} → {tokens: [ids]},
 * or with_pieces → {tokens: [{id, piece}]}, a piece being its text, or its bytes where they are not
 * UTF-8 on their own. Tokenized on the prompt thread, so a text whose bytes alone cannot fit in the
 * context is 400 prompt_too_long, as a prompt would be.
 */
export const tokenizeRoute: Route = {
  method: 'POST',
  path: '/tokenize',
  isAuthRequired: true,
  summary: 'Tokenizes text (llama-server)',
  requestBody: { name: 'TokenizeRequest', schema: tokenizeBody },
  async handle({ body, res, prompts, engine }) {
    const request = parseRequest(tokenizeBody, body);
    const ids = await prompts.encodeText(request.content, { addSpecial: request.addSpecial, parseSpecial: request.parseSpecial });
    if (!request.isWithPieces) {
      sendJson(res, 200, { tokens: ids });
      return;
    }
    const tokens = ids.map((id) => {
      const bytes = engine.tokenizer.tokenBytes(id, true);
      let piece: string | number[];
      try {
        piece = utf8.decode(bytes);
      } catch {
        piece = Array.from(bytes);
      }
      return { id, piece };
    });
    sendJson(res, 200, { tokens });
  },
};

/**
 * POST /detokenize, llama-server's: {tokens: [ids]} → {content}, control tokens as their text (so
 * /tokenize's output round-trips); at most the context size of ids at once.
 */
export const detokenizeRoute: Route = {
  method: 'POST',
  path: '/detokenize',
  isAuthRequired: true,
  summary: 'Detokenizes token ids (llama-server)',
  requestBody: { name: 'DetokenizeRequest', schema: detokenizeBody },
  async handle({ body, res, engine }) {
    const { tokens } = parseRequest(detokenizeBodyFor(engine.tokenizer.vocabSize, engine.contextSize), body);
    sendJson(res, 200, { content: engine.tokenizer.decode(tokens, { special: true }) });
  },
};
