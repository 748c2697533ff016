import { randomUUID } from 'node:crypto';
import { ChoiceStreams } from '../choice-streams.js';
import { HttpError } from '../http-error.js';
import type { RequestContext } from '../route.js';
import { sendResult, sendStreamEvent, startEventStream } from '../send.js';
import { streamWithErrorEvent } from '../stream-errors.js';
import { parseRequest } from '../parse-request.js';
import { checkServedModel } from '../served-model.js';
import { messageItem, outputTextPart, responseObject, type ResponseState, type ResponseStatus } from './response-object.js';
import { responsesBody } from './schema.js';

/**
 * POST /v1/responses: the conversation (instructions, then input items) through the model's chat
 * template, as chat completions renders messages; one assistant message back. Streaming sends
 * OpenAI's event sequence, each event named (`event:`) and numbered (`sequence_number`):
 * response.created, response.in_progress, response.output_item.added, response.content_part.added,
 * response.output_text.delta..., response.output_text.done, response.content_part.done,
 * response.output_item.done, then response.completed (response.incomplete when cut by max_output_tokens).
 * A failure mid-stream is an `error` event, `{ type: 'error', sequence_number, error: {message, type, param, code} }`
 * (the openai SDK throws an APIError on it, the AI SDK reports an error part), and the stream ends.
 */
export async function handleResponses(ctx: RequestContext): Promise<void> {
  const request = parseRequest(responsesBody, ctx.body);
  checkServedModel(request.model, ctx.servedModelNames);
  if (request.messages.length > ctx.engine.contextSize) {
    throw new HttpError(400, `${request.messages.length} input items cannot fit in a context of ${ctx.engine.contextSize} tokens`, 'invalid_request_error', 'input', 'context_length_exceeded');
  }
  const promptIds = await ctx.prompts.encodeChat(request.messages);
  checkOutputFits(promptIds.length, request.maxOutputTokens, ctx.engine.contextSize);
  const choices = await ChoiceStreams.start(ctx, promptIds, { maxTokens: request.maxOutputTokens, temperature: request.temperature, topP: request.topP }, 1);
  const hex = randomUUID().replaceAll('-', '');
  const base = { responseId: `resp_${hex}`, itemId: `msg_${hex}`, createdAtSec: Math.floor(Date.now() / 1000), modelName: ctx.modelName };

  if (!request.isStream) {
    let text = '';
    let status: ResponseStatus = 'completed';
    const usage = await choices.run((_index, chunk) => {
      text += chunk.text;
      if (chunk.finishReason === 'length') status = 'incomplete';
    });
    sendResult(ctx, responseObject(request, { ...base, status, text, usage }));
    return;
  }

  let sequenceNumber = 0;
  const send = (type: string, fields: object): void => sendStreamEvent(ctx, { type, sequence_number: sequenceNumber++, ...fields }, type);
  const at = { item_id: base.itemId, output_index: 0, content_index: 0 };
  const inProgress: ResponseState = { ...base, status: 'in_progress', text: undefined, usage: undefined };
  startEventStream(ctx.res);
  await streamWithErrorEvent(ctx, async () => {
    send('response.created', { response: responseObject(request, inProgress) });
    send('response.in_progress', { response: responseObject(request, inProgress) });
    send('response.output_item.added', { output_index: 0, item: messageItem(base.itemId, 'in_progress', undefined) });
    send('response.content_part.added', { ...at, part: outputTextPart('') });
    let text = '';
    let status: ResponseStatus = 'completed';
    const usage = await choices.run((_index, chunk) => {
      if (chunk.text !== '') {
        text += chunk.text;
        send('response.output_text.delta', { ...at, delta: chunk.text, logprobs: [] });
      }
      if (chunk.finishReason === 'length') status = 'incomplete';
    });
    send('response.output_text.done', { ...at, text, logprobs: [] });
    send('response.content_part.done', { ...at, part: outputTextPart(text) });
    send('response.output_item.done', { output_index: 0, item: messageItem(base.itemId, status, text) });
    send(status === 'completed' ? 'response.completed' : 'response.incomplete', { response: responseObject(request, { ...base, status, text, usage }) });
    ctx.res.end();
  }, (error) => ({ eventName: 'error', data: { type: 'error', sequence_number: sequenceNumber++, ...error.toBody() } }));
}

/** 400 when the prompt and max_output_tokens together exceed the context (the output would be cut at the context's end). */
function checkOutputFits(numPromptTokens: number, maxOutputTokens: number | undefined, contextSize: number): void {
  if (maxOutputTokens === undefined || numPromptTokens > contextSize || numPromptTokens + maxOutputTokens <= contextSize) return;
  throw new HttpError(
    400,
    `'max_output_tokens' is too large: ${maxOutputTokens}. This model's maximum context length is ${contextSize} tokens and your request has ` +
      `${numPromptTokens} input tokens (${maxOutputTokens} > ${contextSize} - ${numPromptTokens})`,
    'invalid_request_error',
    'max_output_tokens',
    'context_length_exceeded',
  );
}
