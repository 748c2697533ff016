import { randomUUID } from 'node:crypto';
import type { GenerationChunk } from '../../engine/generation-options.js';
import type { TokenLogprobs } from '../../sampling/compute-logprobs.js';
import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import { ChoiceStreams, toWireFinishReason, toWireUsage } from '../choice-streams.js';
import type { RequestContext } from '../route.js';
import { endEventStream, sendResult, sendStreamEvent, startEventStream } from '../send.js';
import { streamWithErrorEvent } from '../stream-errors.js';
import { tokenPiece } from '../token-text.js';
import { parseRequest } from '../parse-request.js';
import { checkMaxTokensFit, toGenerationOptions } from '../sampling-fields.js';
import { checkServedModel } from '../served-model.js';
import { completionBody, type CompletionRequest } from './schema.js';
import { checkConstraintCompiles, readLogitBias } from '../structured-output.js';

/** OpenAI's legacy completions logprobs: parallel arrays over the generated tokens. */
interface WireCompletionLogprobs {
  tokens: string[];
  token_logprobs: number[];
  top_logprobs: Record<string, number>[];
  text_offset: number[];
}

export async function handleCompletion(ctx: RequestContext): Promise<void> {
  const request = parseRequest(completionBody, ctx.body);
  checkServedModel(request.model, ctx.servedModelNames);
  const logitBias = readLogitBias(request.logitBias, ctx.engine.model.config.vocabSize);
  checkConstraintCompiles(ctx.engine, request.constraint);
  // tokenized once for all n, off the event loop
  const promptIds =
    typeof request.prompt === 'string'
      ? await ctx.prompts.encodeText(request.prompt, { addSpecial: true, parseSpecial: false })
      : request.prompt;
  checkMaxTokensFit(promptIds.length, request, ctx.engine.contextSize);
  const choices = await ChoiceStreams.start(
    ctx,
    promptIds,
    { ...toGenerationOptions(request), logprobs: request.numLogprobs, constraint: request.constraint?.spec, logitBias },
    request.numChoices,
  );
  const id = `cmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const header = { id, object: 'text_completion' as const, created, model: ctx.modelName };
  const tokenizer = ctx.engine.tokenizer;

  if (!request.isStream) {
    const texts = Array.from({ length: request.numChoices }, () => '');
    const reasons: ('stop' | 'length')[] = Array.from({ length: request.numChoices }, () => 'stop');
    const logprobs = Array.from({ length: request.numChoices }, () => emptyLogprobs());
    const usage = await choices.run((index, chunk) => {
      if (request.numLogprobs !== undefined) appendLogprobs(logprobs[index]!, chunk, tokenizer, texts[index]!.length);
      texts[index] += chunk.text;
      if (chunk.finishReason) reasons[index] = toWireFinishReason(chunk.finishReason);
    });
    sendResult(ctx, {
      ...header,
      choices: texts.map((text, index) => ({
        index,
        text,
        logprobs: request.numLogprobs === undefined ? null : logprobs[index],
        finish_reason: reasons[index],
      })),
      usage: toWireUsage(usage),
    });
    return;
  }

  startEventStream(ctx.res);
  const textLengths = Array.from({ length: request.numChoices }, () => 0);
  await streamWithErrorEvent(ctx, async () => {
    const usage = await choices.run((index, chunk) => {
      const hasLogprobs = request.numLogprobs !== undefined && chunk.tokenIds.length > 0;
      if (chunk.text === '' && !chunk.finishReason && !hasLogprobs) return;
      let logprobs: WireCompletionLogprobs | null = null;
      if (request.numLogprobs !== undefined) {
        logprobs = emptyLogprobs();
        appendLogprobs(logprobs, chunk, tokenizer, textLengths[index]!);
      }
      textLengths[index]! += chunk.text.length;
      sendStreamEvent(ctx, {
        ...header,
        choices: [
          {
            index,
            text: chunk.text,
            logprobs,
            finish_reason: chunk.finishReason ? toWireFinishReason(chunk.finishReason) : null,
          },
        ],
        ...(request.isUsageIncluded ? { usage: null } : {}),
      });
    });
    if (request.isUsageIncluded) sendStreamEvent(ctx, { ...header, choices: [], usage: toWireUsage(usage) });
    endEventStream(ctx.res);
  });
}

function emptyLogprobs(): WireCompletionLogprobs {
  return { tokens: [], token_logprobs: [], top_logprobs: [], text_offset: [] };
}

/** Adds one chunk's tokens; offsets count characters of the choice's text from `textOffset`. */
function appendLogprobs(into: WireCompletionLogprobs, chunk: GenerationChunk, tokenizer: Tokenizer, textOffset: number): void {
  let offset = textOffset;
  for (const entry of chunk.logprobs ?? ([] as readonly TokenLogprobs[])) {
    const piece = tokenPiece(tokenizer, entry.tokenId).text;
    into.tokens.push(piece);
    into.token_logprobs.push(entry.logprob);
    into.top_logprobs.push(Object.fromEntries(entry.topLogprobs.map((t) => [tokenPiece(tokenizer, t.tokenId).text, t.logprob])));
    into.text_offset.push(offset);
    offset += piece.length;
  }
}
