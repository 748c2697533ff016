import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServingEngine } from '../../src/engine/async-engine.js';
import { loadModel } from '../../src/engine/loaded-model.js';
import type { ServingEngine } from '../../src/engine/serving-engine.js';
import { InvalidRequestError } from '../../src/errors/engine-error.js';
import { ChatTemplate } from '../../src/chat/chat-template.js';
import { PromptEncoder } from '../../src/server/prompt-encoder.js';
import { writeSyntheticModel } from '../../src/testing/synthetic-model.js';

const ROOT = resolve(fileURLToPath(new URL('../../', import.meta.url)));
const LLAMA_BPE = join(ROOT, '..', 'shared', 'models', 'vocab', 'ggml-vocab-llama-bpe.gguf');
const HAS_VOCAB = existsSync(LLAMA_BPE);
if (!HAS_VOCAB) console.warn(`skipping prompt thread tests: ${LLAMA_BPE} is absent`);

/** A real Llama 3 vocabulary (128,256 tokens, up to 256 bytes per token) on a tiny random model with a 4096-token context. */
describe.skipIf(!HAS_VOCAB)('PromptEncoder: prompts rendered and tokenized on the prompt thread', () => {
  let dir: string;
  let engine: ServingEngine;
  let template: ChatTemplate;
  let encoder: PromptEncoder;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'peregrine-prompts-'));
    const path = join(dir, 'bpe.gguf');
    writeSyntheticModel(path, { shape: 'tiny-64', weightType: 'F16', contextLength: 4096, vocab: { copyFrom: LLAMA_BPE } });
    engine = createServingEngine(await loadModel(path, { contextSize: 4096, threads: 1 }), { maxNumSeqs: 1 });
    template = ChatTemplate.fromSource(
      "{% for m in messages %}<|start_header_id|>{{ m.role }}<|end_header_id|>\n\n{{ m.content }}<|eot_id|>{% endfor %}{% if add_generation_prompt %}<|start_header_id|>assistant<|end_header_id|>\n\n{% endif %}",
      engine.tokenizer,
    );
    encoder = PromptEncoder.start(engine, template);
  }, 120_000);

  afterAll(async () => {
    encoder?.close();
    await engine?.shutdown();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs on a thread (npm test builds dist/server/prompt-worker.js first)', () => {
    expect(encoder.isThreaded).toBe(true);
  });

  it('gives the ids the tokenizer gives on the event loop, for text and for chats', async () => {
    const texts = ['Hello world', ' leading space and <|eot_id|> special text', 'Ünïcødé 你好 1234567 \n\n tabs\t', 'a'.repeat(3000)];
    for (const text of texts) {
      for (const parseSpecial of [false, true]) {
        expect(await encoder.encodeText(text, { addSpecial: true, parseSpecial })).toEqual(engine.tokenizer.encode(text, { addSpecial: true, parseSpecial }));
      }
      expect(await encoder.encodeText(text, { addSpecial: false, parseSpecial: false })).toEqual(engine.tokenizer.encode(text, { addSpecial: false }));
    }
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', content: 'What is 2+2? <|eot_id|>' },
    ];
    expect(await encoder.encodeChat(messages)).toEqual(engine.tokenizer.encode(template.render(messages), { addSpecial: true, parseSpecial: true }));
  });

  it('keeps the event loop turning while a 1 MB prompt is tokenized', async () => {
    const words = ['the', 'quick', 'brown', 'fox', 'jumps', 'over', 'a', 'lazy', 'dog,', 'and', 'then'];
    const parts: string[] = [];
    for (let i = 0, numBytes = 0; numBytes < 2 ** 20 - 16; i++) {
      const word = `${words[(i * 7) % words.length]} `;
      parts.push(word);
      numBytes += word.length;
    }
    const text = parts.join('');
    let numTurns = 0;
    const ticker = setInterval(() => numTurns++, 1);
    const ids = await encoder.encodeText(text, { addSpecial: true, parseSpecial: false });
    clearInterval(ticker);
    expect(ids.length).toBeGreaterThan(4096); // the engine refuses it later, as it should: it does not fit
    // on the event loop the encode would run to its end before the timer could fire more than once
    expect(numTurns).toBeGreaterThan(10);
  });

  it('passes request errors back with their class: PROMPT_TOO_LONG, a template failure', async () => {
    const tooLong = 'x'.repeat(4096 * engine.tokenizer.maxTokenBytes + 1);
    const err = await encoder.encodeText(tooLong, { addSpecial: true, parseSpecial: false }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidRequestError);
    expect((err as InvalidRequestError).code).toBe('PROMPT_TOO_LONG');
    const failing = ChatTemplate.fromSource("{{ raise_exception('roles must alternate') }}", engine.tokenizer);
    const other = PromptEncoder.start(engine, failing);
    try {
      const e2 = await other.encodeChat([{ role: 'user', content: 'hi' }]).catch((e: unknown) => e);
      expect(e2).toBeInstanceOf(InvalidRequestError);
      expect(e2).toMatchObject({ code: 'INVALID_MESSAGES', param: 'messages', message: expect.stringMatching(/roles must alternate/) });
    } finally {
      other.close();
    }
  });

  it('encodes on the event loop once the thread is closed, with the same result', async () => {
    const other = PromptEncoder.start(engine, template);
    other.close();
    expect(other.isThreaded).toBe(false);
    expect(await other.encodeText('Hello there', { addSpecial: true, parseSpecial: false })).toEqual(engine.tokenizer.encode('Hello there'));
  });
});
