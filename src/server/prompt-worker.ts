/**
 * The prompt thread: renders chat templates and tokenizes prompts off the event loop, so that no
 * request's size shows in another request's latency (a 1 MB prompt tokenizes in ~0.3-1 s, a chat of
 * 100k messages renders in ~5 s). Started by PromptEncoder with the model's GGUF path, the chat
 * template's source and the context size; answers one message per request, in order.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { MetadataReader } from '../formats/gguf/index.js';
import { readModel } from '../formats/read-model.js';
import { createTokenizer } from '../tokenizer/tokenizer.js';
import { ChatTemplate } from '../chat/chat-template.js';
import { encodePrompt, type PromptJob, type PromptReply, type PromptWorkerData, serializeError } from './prompt-jobs.js';

const { modelPath, tokenizerPath, chatTemplateSource, contextSize } = workerData as PromptWorkerData;
const port = parentPort!;
try {
  const tokenizer = createTokenizer(new MetadataReader(readModel(modelPath, { tokenizer: tokenizerPath }).metadata, modelPath));
  const chatTemplate = ChatTemplate.fromSource(chatTemplateSource, tokenizer);
  port.on('message', (job: PromptJob) => {
    let reply: PromptReply;
    try {
      const ids = Int32Array.from(encodePrompt(job, tokenizer, chatTemplate, contextSize));
      reply = { id: job.id, ids };
      port.postMessage(reply, [ids.buffer]);
    } catch (err) {
      reply = { id: job.id, error: serializeError(err) };
      port.postMessage(reply);
    }
  });
} catch (err) {
  port.postMessage({ id: -1, error: serializeError(err) });
}
