import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InvalidRequestError, loadModel, readGguf, writeGguf } from '../../src/api/index.js';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { readTensorData } from '../../src/formats/gguf/index.js';

const tempDir = mkdtempSync(join(tmpdir(), 'peregrine-generate-'));
afterAll(() => rmSync(tempDir, { recursive: true, force: true }));

/** Copies an F32 llama GGUF, making the EOS row of output.weight 1.5x the row of '.'. */
function writeModelWithEosAfterPeriod(src: string, dst: string): void {
  const file = readGguf(src);
  const data = readTensorData(file, file.tensors);
  const tokens = file.metadata.get('tokenizer.ggml.tokens')!.value as string[];
  const eos = Number(file.metadata.get('tokenizer.ggml.eos_token_id')!.value);
  const period = tokens.indexOf('.');
  const out = data.get('output.weight')!;
  const dim = file.tensors.find((t) => t.name === 'output.weight')!.shape[0]!;
  const rows = new Float32Array(out.buffer, out.byteOffset, out.byteLength / 4);
  for (let i = 0; i < dim; i++) rows[eos * dim + i] = 1.5 * rows[period * dim + i]!;
  writeGguf(dst, {
    metadata: file.metadata,
    tensors: file.tensors.map((t) => ({ name: t.name, shape: t.shape, type: t.type, data: data.get(t.name)! })),
  });
}

// The bundled stories260K model: always present, no ../shared needed.
const model = await loadModel(DEFAULT_MODEL_PATH, { contextSize: 256 });

async function expectInvalid(p: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidRequestError);
  expect((err as InvalidRequestError).code).toBe(code);
  expect((err as Error).message).toMatch(message);
}

describe('Model.generate on the bundled stories260K', () => {
  it('greedy from BOS tells the known story', async () => {
    const r = await model.complete('', { temperature: 0, maxTokens: 24 });
    expect(r.text).toMatch(/^Once upon a time, there was a little girl named Lily\./);
    expect(r.usage).toEqual({ promptTokens: 1, completionTokens: 24 });
    expect(r.finishReason).toBe('length');
  });

  it('streams chunks whose text concatenates to the detokenized ids', async () => {
    let text = '';
    const ids: number[] = [];
    let last;
    for await (const chunk of model.generate('Once upon a time', { temperature: 0, maxTokens: 40 })) {
      text += chunk.text;
      ids.push(...chunk.tokenIds);
      last = chunk;
    }
    expect(last?.finishReason).toBe('length');
    expect(ids).toHaveLength(40);
    // streamed text keeps the first piece's leading space, decode() drops it
    expect(text.trimStart()).toBe(model.detokenize(ids).trimStart());
  });

  it('same seed gives the same text, another seed another text', async () => {
    const run = (seed: number) => model.complete('Once upon a time', { temperature: 1, seed, maxTokens: 48 });
    const [a, b, c] = await Promise.all([run(1), run(1), run(2)]);
    expect(a.tokenIds).toEqual(b.tokenIds);
    expect(a.tokenIds).not.toEqual(c.tokenIds);
  });

  it('stops before a stop string and reports finishReason stop', async () => {
    const full = await model.complete('', { temperature: 0, maxTokens: 30 });
    expect(full.text).toContain('Lily');
    const r = await model.complete('', { temperature: 0, maxTokens: 30, stop: ['Lily'] });
    expect(r.finishReason).toBe('stop');
    expect(r.text).toBe(full.text.slice(0, full.text.indexOf('Lily')));
  });

  it('stops at EOS (not part of the text) unless ignoreEos', async () => {
    // stories260K never emits EOS on its own: write a copy whose EOS logit is 1.5x the '.' logit
    const path = join(tempDir, 'eos.gguf');
    writeModelWithEosAfterPeriod(DEFAULT_MODEL_PATH, path);
    const eosModel = await loadModel(path, { contextSize: 256 });
    const r = await eosModel.complete('', { temperature: 0, maxTokens: 100 });
    expect(r.finishReason).toBe('stop');
    expect(r.tokenIds.at(-1)).toBe(eosModel.tokenizer.eosId);
    expect(r.text).toBe('Once upon a time, there was a little girl named Lily');
    const ignored = await eosModel.complete('', { temperature: 0, maxTokens: 100, ignoreEos: true });
    expect(ignored.finishReason).toBe('length');
    expect(ignored.tokenIds).toHaveLength(100);
    expect(ignored.tokenIds.slice(0, r.tokenIds.length)).toEqual(r.tokenIds);
  });

  it('maxTokens 0 generates nothing', async () => {
    const r = await model.complete('Hi', { maxTokens: 0 });
    expect(r.tokenIds).toEqual([]);
    expect(r.finishReason).toBe('length');
  });

  it('an aborted signal ends generation with finishReason abort', async () => {
    const controller = new AbortController();
    const ids: number[] = [];
    let finishReason;
    for await (const chunk of model.generate('', { temperature: 0, maxTokens: 200, signal: controller.signal })) {
      ids.push(...chunk.tokenIds);
      if (ids.length === 5) controller.abort();
      finishReason = chunk.finishReason ?? finishReason;
    }
    expect(ids).toHaveLength(5);
    expect(finishReason).toBe('abort');
  });

  describe('bad input', () => {
    it('prompt longer than the context', async () => {
      const long = 'Once upon a time '.repeat(200);
      await expectInvalid(model.complete(long), 'PROMPT_TOO_LONG', /prompt is (at least )?\d+ tokens.*context.*256/);
    });
    it('prompt that fills the context exactly leaves no room', async () => {
      await expectInvalid(model.complete(new Array(256).fill(1)), 'PROMPT_TOO_LONG', /no room/);
    });
    it('token ids outside the vocabulary', async () => {
      await expectInvalid(model.complete([1, 512]), 'INVALID_TOKEN', /512 is outside the vocabulary/);
      await expectInvalid(model.complete([1, -1]), 'INVALID_TOKEN', /-1/);
    });
    it('bad sampling and generation options', async () => {
      await expectInvalid(model.complete('a', { temperature: -1 }), 'INVALID_ARGUMENT', /temperature/);
      await expectInvalid(model.complete('a', { topP: 2 }), 'INVALID_ARGUMENT', /topP/);
      await expectInvalid(model.complete('a', { maxTokens: 1.5 }), 'INVALID_ARGUMENT', /maxTokens/);
      await expectInvalid(model.complete('a', { stop: [''] }), 'INVALID_ARGUMENT', /stop/);
    });
    it('empty prompt on a model without BOS is rejected', async () => {
      await expectInvalid(model.complete([]), 'INVALID_ARGUMENT', /prompt is empty/);
    });
  });
});
