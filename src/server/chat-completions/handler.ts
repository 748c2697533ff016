import { randomUUID } from 'node:crypto';
import { InvalidRequestError } from '../../errors/engine-error.js';
import type { TokenLogprobs } from '../../sampling/compute-logprobs.js';
import type { Tokenizer } from '../../tokenizer/tokenizer.js';
import { ChoiceStreams, toWireFinishReason, toWireUsage } from '../choice-streams.js';
import type { RequestContext } from '../route.js';
import { endEventStream, sendResult, sendStreamEvent, startEventStream } from '../send.js';
import { streamWithErrorEvent } from '../stream-errors.js';
import { tokenPiece } from '../token-text.js';
import { checkMaxTokensFit, checkServedModel, toGenerationOptions } from '../validation.js';
import { parseChatCompletionRequest } from './schema.js';

interface WireTopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

interface WireTokenLogprob extends WireTopLogprob {
  top_logprobs: WireTopLogprob[];
}

export async function handleChatCompletion(ctx: RequestContext): Promise<void> {
  const request = parseChatCompletionRequest(ctx.body);
  checkServedModel(request.model, ctx.servedModelNames);
  // every message renders to at least one token (a role header at the least): more than the context
  // holds is refused before a template renders them (100k messages took ~5 s to render)
  if (request.messages.length > ctx.engine.contextSize) {
    throw new InvalidRequestError('PROMPT_TOO_LONG', `${request.messages.length} messages cannot fit in a context of ${ctx.engine.contextSize} tokens`);
  }
  const promptIds = await ctx.prompts.encodeChat(request.messages);
  checkMaxTokensFit(promptIds.length, request, ctx.engine.contextSize);
  const choices = await ChoiceStreams.start(
    ctx,
    promptIds,
    { ...toGenerationOptions(request), logprobs: request.numLogprobs },
    request.numChoices,
  );
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const tokenizer = ctx.engine.tokenizer;
  const isLogprobs = request.numLogprobs !== undefined;

  if (!request.isStream) {
    const contents = Array.from({ length: request.numChoices }, () => '');
    const reasons: ('stop' | 'length')[] = Array.from({ length: request.numChoices }, () => 'stop');
    const logprobs = Array.from({ length: request.numChoices }, (): WireTokenLogprob[] => []);
    const usage = await choices.run((index, chunk) => {
      contents[index] += chunk.text;
      if (isLogprobs) logprobs[index]!.push(...toWireLogprobs(chunk.logprobs ?? [], tokenizer));
      if (chunk.finishReason) reasons[index] = toWireFinishReason(chunk.finishReason);
    });
    sendResult(ctx, {
      id,
      object: 'chat.completion',
      created,
      model: ctx.modelName,
      choices: contents.map((content, index) => ({
        index,
        message: { role: 'assistant', content },
        logprobs: isLogprobs ? { content: logprobs[index] } : null,
        finish_reason: reasons[index],
      })),
      usage: toWireUsage(usage),
    });
    return;
  }

  const header = { id, object: 'chat.completion.chunk' as const, created, model: ctx.modelName };
  const usageField = request.isUsageIncluded ? { usage: null } : {};
  const sendDelta = (index: number, delta: object, logprobs: WireTokenLogprob[] | null, finishReason: string | null): void =>
    sendStreamEvent(ctx, {
      ...header,
      choices: [{ index, delta, logprobs: logprobs && { content: logprobs }, finish_reason: finishReason }],
      ...usageField,
    });
  startEventStream(ctx.res);
  await streamWithErrorEvent(ctx, async () => {
    for (let index = 0; index < request.numChoices; index++) sendDelta(index, { role: 'assistant', content: '' }, null, null);
    const usage = await choices.run((index, chunk) => {
      const hasLogprobs = isLogprobs && chunk.tokenIds.length > 0;
      if (chunk.text !== '' || hasLogprobs) {
        sendDelta(index, { content: chunk.text }, isLogprobs ? toWireLogprobs(chunk.logprobs ?? [], tokenizer) : null, null);
      }
      if (chunk.finishReason) sendDelta(index, {}, null, toWireFinishReason(chunk.finishReason));
    });
    if (request.isUsageIncluded) sendStreamEvent(ctx, { ...header, choices: [], usage: toWireUsage(usage) });
    endEventStream(ctx.res);
  });
}

function toWireLogprobs(entries: readonly TokenLogprobs[], tokenizer: Tokenizer): WireTokenLogprob[] {
  const top = (tokenId: number, logprob: number): WireTopLogprob => {
    const piece = tokenPiece(tokenizer, tokenId);
    return { token: piece.text, logprob, bytes: piece.bytes };
  };
  return entries.map((e) => ({ ...top(e.tokenId, e.logprob), top_logprobs: e.topLogprobs.map((t) => top(t.tokenId, t.logprob)) }));
}
