import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { ServingEngine } from '../engine/serving-engine.js';
import type { ChatMessage, ChatTemplate } from '../chat/chat-template.js';
import type { ToolOffer } from '../chat/tool-request.js';
import { deserializeError, encodePrompt, type PromptJob, type PromptReply, type PromptWorkerData } from './prompt-jobs.js';

/** a job before it is numbered: `id` left out of each member of the union */
type Unnumbered<J> = J extends unknown ? Omit<J, 'id'> : never;
type JobInput = Unnumbered<PromptJob>;

interface Pending {
  readonly job: PromptJob;
  readonly resolve: (ids: number[]) => void;
  readonly reject: (err: Error) => void;
}

/**
 * Turns a request's prompt (text, or chat messages through the chat template) into token ids, once
 * per request, on the prompt thread (src/server/prompt-worker.ts), so the event loop never waits on
 * a big prompt. Where the thread cannot start (no compiled worker file next to this module or in
 * dist/, an unreadable model file) or has died, prompts are encoded on the event loop instead, with
 * one warning. The server owns it: `close` stops the thread.
 */
export class PromptEncoder {
  private worker: Worker | undefined;
  private readonly pending = new Map<number, Pending>();
  private nextId = 0;

  private constructor(
    private readonly engine: ServingEngine,
    /** the template chats are rendered with (its toolFamily says how tool calls are written) */
    readonly chatTemplate: ChatTemplate,
    workerFile: string | undefined,
    private readonly logger: { warn(message: string): void },
  ) {
    if (workerFile === undefined) return;
    const data: PromptWorkerData = { modelPath: engine.model.path, tokenizerPath: engine.model.tokenizerPath, chatTemplateSource: chatTemplate.source, contextSize: engine.contextSize };
    const worker = new Worker(workerFile, { workerData: data });
    worker.unref(); // never what keeps the process alive
    worker.on('message', (reply: PromptReply) => this.onReply(reply));
    worker.on('error', (err) => this.onWorkerGone(`failed: ${err.message}`));
    worker.on('exit', (code) => this.onWorkerGone(`exited with code ${code}`));
    this.worker = worker;
  }

  /** `logger` hears when the prompt thread dies (default: stderr) */
  static start(engine: ServingEngine, chatTemplate: ChatTemplate, logger: { warn(message: string): void } = { warn: (m) => console.warn(`peregrine: ${m}`) }): PromptEncoder {
    return new PromptEncoder(engine, chatTemplate, findWorkerFile(), logger);
  }

  /** whether prompts are encoded off the event loop */
  get isThreaded(): boolean {
    return this.worker !== undefined;
  }

  encodeText(text: string, options: { addSpecial: boolean; parseSpecial: boolean }): Promise<number[]> {
    return this.run({ kind: 'text', text, ...options });
  }

  /**
   * The chat rendered with the model's template (offering `tools`, then `prefix` after the
   * generation prompt), then tokenized (special-token text parsed).
   */
  encodeChat(messages: readonly ChatMessage[], options: { tools?: ToolOffer; prefix?: string } = {}): Promise<number[]> {
    return this.run({ kind: 'chat', messages, ...options });
  }

  close(): void {
    const worker = this.worker;
    this.worker = undefined;
    void worker?.terminate();
  }

  private run(job: JobInput): Promise<number[]> {
    const worker = this.worker;
    const id = this.nextId++;
    const idJob = { ...job, id } as PromptJob;
    if (worker === undefined) return this.runHere(idJob);
    return new Promise<number[]>((resolve, reject) => {
      this.pending.set(id, { job: idJob, resolve, reject });
      worker.postMessage(idJob);
    });
  }

  private runHere(job: PromptJob): Promise<number[]> {
    try {
      return Promise.resolve(encodePrompt(job, this.engine.tokenizer, this.chatTemplate, this.engine.contextSize));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private onReply(reply: PromptReply): void {
    if (reply.id === -1) {
      if ('error' in reply) this.onWorkerGone(`could not start: ${reply.error.message}`);
      return;
    }
    const pending = this.pending.get(reply.id);
    if (!pending) return;
    this.pending.delete(reply.id);
    if ('error' in reply) pending.reject(deserializeError(reply.error));
    else if ('ids' in reply) pending.resolve(Array.from(reply.ids));
  }

  /** the thread is gone: its jobs are encoded here instead, and so is every later one */
  private onWorkerGone(why: string): void {
    const worker = this.worker;
    if (worker === undefined) return;
    this.worker = undefined;
    void worker.terminate();
    this.logger.warn(`the prompt thread ${why}; encoding prompts on the main thread`);
    const pending = [...this.pending.values()];
    this.pending.clear();
    for (const p of pending) this.runHere(p.job).then(p.resolve, p.reject);
  }
}

/**
 * The compiled worker: next to this module when it runs from dist/, or, when it runs from the
 * TypeScript sources (vitest), the one `npm run build` wrote to dist/ (npm test builds first).
 */
function findWorkerFile(): string | undefined {
  const here = fileURLToPath(import.meta.url);
  const candidates = here.endsWith('.js')
    ? [here.replace(/prompt-encoder\.js$/, 'prompt-worker.js')]
    : [here.replace(/([\\/])src([\\/])server([\\/])prompt-encoder\.ts$/, '$1dist$2server$3prompt-worker.js')];
  return candidates.find((file) => file.endsWith('.js') && existsSync(file));
}
