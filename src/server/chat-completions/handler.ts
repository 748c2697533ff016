import { randomUUID } from 'node:crypto';
import { InvalidRequestError } from '../../errors/engine-error.js';
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
import { chatCompletionBody } from './schema.js';
import { checkConstraintCompiles, readLogitBias, type RequestConstraint } from '../structured-output.js';
import { forcedToolCallFor } from '../../chat/tool-call-format.js';
import { ToolCallOutput, type WireToolCall } from '../../chat/tool-call-output.js';

interface WireTopLogprob {
  token: string;
  logprob: number;
  bytes: number[];
}

interface WireTokenLogprob extends WireTopLogprob {
  top_logprobs: WireTopLogprob[];
}

export async function handleChatCompletion(ctx: RequestContext): Promise<void> {
  const request = parseRequest(chatCompletionBody, ctx.body);
  checkServedModel(request.model, ctx.servedModelNames);
  // every message renders to at least one token (a role header at the least): more than the context
  // holds is refused before a template renders them (100k messages took ~5 s to render)
  if (request.messages.length > ctx.engine.contextSize) {
    throw new InvalidRequestError('PROMPT_TOO_LONG', `${request.messages.length} messages cannot fit in a context of ${ctx.engine.contextSize} tokens`);
  }
  const logitBias = readLogitBias(request.logitBias, ctx.engine.model.config.vocabSize);
  const family = ctx.prompts.chatTemplate.toolFamily;
  const tools = request.tools;
  // tool_choice 'required' or a named function: the call is forced with a grammar in the family's syntax
  const forced = tools && forcedToolCallFor(family, tools);
  const constraint: RequestConstraint | undefined = forced ? { spec: forced.spec, param: 'tools' } : request.constraint;
  checkConstraintCompiles(ctx.engine, constraint);
  const promptIds = await ctx.prompts.encodeChat(request.messages, {
    tools: tools && { tools: tools.tools, isForced: forced !== undefined },
    prefix: forced?.prefix,
  });
  checkMaxTokensFit(promptIds.length, request, ctx.engine.contextSize);
  const choices = await ChoiceStreams.start(
    ctx,
    promptIds,
    { ...toGenerationOptions(request), logprobs: request.numLogprobs, constraint: constraint?.spec, logitBias },
    request.numChoices,
  );
  const id = `chatcmpl-${randomUUID()}`;
  const created = Math.floor(Date.now() / 1000);
  const tokenizer = ctx.engine.tokenizer;
  const isLogprobs = request.numLogprobs !== undefined;
  const outputs = Array.from({ length: request.numChoices }, () =>
    tools ? new ToolCallOutput(family, tools, forced?.prefix ?? '', request.isStream) : undefined,
  );

  if (!request.isStream) {
    const contents = Array.from({ length: request.numChoices }, () => '');
    const reasons: ('stop' | 'length' | 'tool_calls')[] = Array.from({ length: request.numChoices }, () => 'stop');
    const toolCalls: (WireToolCall[] | undefined)[] = Array.from({ length: request.numChoices }, () => undefined);
    const logprobs = Array.from({ length: request.numChoices }, (): WireTokenLogprob[] => []);
    const usage = await choices.run((index, chunk) => {
      const output = outputs[index];
      if (output) output.push(chunk.text);
      else contents[index] += chunk.text;
      if (isLogprobs) logprobs[index]!.push(...toWireLogprobs(chunk.logprobs ?? [], tokenizer));
      if (chunk.finishReason) {
        reasons[index] = toWireFinishReason(chunk.finishReason);
        if (output) {
          output.finish();
          contents[index] = output.content;
          toolCalls[index] = output.toolCalls;
          if (output.toolCalls) reasons[index] = 'tool_calls';
        }
      }
    });
    sendResult(ctx, {
      id,
      object: 'chat.completion',
      created,
      model: ctx.modelName,
      choices: contents.map((content, index) => ({
        index,
        message: toolCalls[index]
          ? { role: 'assistant', content: content === '' ? null : content, tool_calls: toolCalls[index] }
          : { role: 'assistant', content },
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
      const output = outputs[index];
      const deltas: object[] = output ? output.push(chunk.text) : chunk.text === '' ? [] : [{ content: chunk.text }];
      // a chunk's logprobs go with its first delta (an empty content delta when its text is held back)
      if (isLogprobs && chunk.tokenIds.length > 0) {
        const wire = toWireLogprobs(chunk.logprobs ?? [], tokenizer);
        sendDelta(index, deltas.shift() ?? { content: '' }, wire, null);
      }
      for (const delta of deltas) sendDelta(index, delta, null, null);
      if (!chunk.finishReason) return;
      let reason: string = toWireFinishReason(chunk.finishReason);
      if (output) {
        for (const delta of output.finish()) sendDelta(index, delta, null, null);
        if (output.toolCalls) reason = 'tool_calls';
      }
      sendDelta(index, {}, null, reason);
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
