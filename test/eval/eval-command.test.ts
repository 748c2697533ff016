import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GATE_MISSED_EXIT_STATUS, runEval } from '../../src/cli/commands/eval.js';
import { quantizeModelFile } from '../../src/quant/quantize-model.js';
import { InvalidRequestError } from '../../src/errors/engine-error.js';
import { HAS_SHARED, SHARED_MODELS, STORIES_260K } from '../parity/helpers.js';
import { SAMPLED_TEXT, fakeQuantizer, writeNoisyCopy } from './helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-eval-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** an in-memory stdout or stderr */
function sink(isTTY = false) {
  let text = '';
  return { isTTY, columns: 80, write: (s: string) => ((text += s), true), get text() { return text; } };
}

async function run(args: string[], deps = {}, isTerminal = false) {
  const out = sink();
  const err = sink(isTerminal);
  const status = await runEval([...args, '--threads', '1'], out as unknown as NodeJS.WritableStream, err, deps);
  return { status, stdout: out.text, stderr: err.text };
}

describe.skipIf(!HAS_SHARED)('peregrine eval on stories260K (needs ../shared/models)', () => {
  const noisy = HAS_SHARED ? writeNoisyCopy(STORIES_260K, join(dir, 'noisy-30.gguf'), 0.3) : '';
  const slightlyNoisy = HAS_SHARED ? writeNoisyCopy(STORIES_260K, join(dir, 'noisy-5.gguf'), 0.05, 2) : '';
  const base = ['--reference', STORIES_260K, '--text', SAMPLED_TEXT];
  // the gate tests evaluate two models: a third of the text, 4 windows of 128 (252 scored tokens)
  const shortText = join(dir, 'short-sample.txt');
  if (HAS_SHARED) writeFileSync(shortText, readFileSync(SAMPLED_TEXT, 'utf8').slice(0, 1200));
  const gateBase = ['--reference', STORIES_260K, '--text', shortText, '--context', '128'];
  const quantized = new Map<string, Promise<string>>();
  /** stories260K quantized by Peregrine's quantizer (once per format) */
  const quantizedCopy = (format: string) => {
    if (!quantized.has(format)) quantized.set(format, quantizeModelFile(STORIES_260K, join(dir, `${format}.gguf`), { format }).then((r) => r.outputPath));
    return quantized.get(format)!;
  };

  it('the reference against itself: KLD only from the 16-bit reference log-probs, same top everywhere, PPL ratio 1', async () => {
    const r = await run(['--model', STORIES_260K, ...base, '--json']);
    expect(r.status).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report).toMatchObject({ numTextTokens: 1600, contextSize: 512, numWindows: 3 });
    const s = report.statistics;
    expect(s.numTokens).toBe(3 * 255);
    expect(Math.abs(s.kld.mean.value)).toBeLessThan(1e-5);
    expect(s.kld.quantiles.max).toBeLessThan(1e-3);
    expect(s.sameTop.value).toBe(1);
    expect(s.pplRatio.value).toBeCloseTo(1, 4);
    expect(s.ppl.value).toBeGreaterThan(1);
    expect(r.stderr).toMatch(/^peregrine eval: 3 windows of 512 tokens, 1 model\(s\) and the reference, in [\d.]+ s\n$/); // not a terminal: no bar, one line at the end
  });

  it('a perturbed model: positive KLD, PPL ratio above 1, text report in llama.cpp sections', async () => {
    const r = await run(['--model', noisy, ...base, '--context', '256'], {}, true);
    expect(r.status).toBe(0);
    // on a terminal: the bar redrawn in place (the last frame full), cleared, then the summary line
    expect(r.stderr).toMatch(/\rperegrine eval 100% \[#+\] 6\/6 windows *\r\r +\rperegrine eval: 6 windows of 256 tokens/);
    expect(r.stdout).toMatch(/1600 tokens, 6 windows of 256, 762 tokens scored/);
    for (const section of ['Perplexity statistics', 'KL divergence statistics', 'Token probability statistics']) expect(r.stdout).toContain(`====== ${section} ======`);
    const kld = Number(/Mean {4}KLD: +([\d.]+) ±/.exec(r.stdout)![1]);
    expect(kld).toBeGreaterThan(1e-3);
    expect(r.stdout).toMatch(/Same top p: +\d+\.\d{3} ± +\d+\.\d{3} %/);
    expect(r.stdout).toMatch(/ 0\.1% {3}KLD: /);
  });

  it('--gate: the anchor file is made from the reference in the gate\'s format, compared, and removed; a miss exits 3', async () => {
    const calls: { input: string; output: string; format: string }[] = [];
    const quantizeAnchor = fakeQuantizer(slightlyNoisy, calls); // the "Q4_0 anchor" here: the reference with 5% noise
    const missed = await run(['--model', noisy, ...gateBase, '--gate', 'q4_0'], { quantizeAnchor });
    expect(missed.status).toBe(GATE_MISSED_EXIT_STATUS);
    expect(calls).toEqual([{ input: STORIES_260K, output: expect.stringMatching(/stories260K-Q4_0\.gguf$/), format: 'Q4_0' }]);
    expect(existsSync(dirname(calls[0]!.output))).toBe(false);
    expect(missed.stdout).toMatch(/====== Gate q4_0: .*======\nanchor: .*\nanchor figures: mean KLD [\d.]+ ± [\d.]+, same top [\d.]+%, PPL ratio [\d.]+\nmean KLD : [\d.]+ <= [\d.]+ \(anchor\) {2}MISSED\n/);
    expect(missed.stdout).toMatch(/slack: none/);
    expect(missed.stdout).toMatch(/gate q4_0: MISSED\n$/);

    const passed = await run(['--model', STORIES_260K, ...gateBase, '--gate', 'Q8_0', '--json'], { quantizeAnchor });
    expect(passed.status).toBe(0);
    const gate = JSON.parse(passed.stdout).gate;
    expect(gate).toMatchObject({ name: 'q8_0', anchor: { format: 'Q8_0' }, slack: 0, passed: true });
    expect(gate.checks.map((c: { metric: string; isPassed: boolean }) => [c.metric, c.isPassed])).toEqual([['mean KLD', true], ['same top', true]]);
    expect(gate.anchor.statistics.kld.mean.value).toBeGreaterThan(JSON.parse(passed.stdout).statistics.kld.mean.value);
  });

  it('--gate with the real anchors: Q8_0 meets the q8_0 gate (its anchor is the same bits), Q4_0 meets q4_0 and misses q8_0', async () => {
    const q8 = await quantizedCopy('Q8_0');
    const q4 = await quantizedCopy('Q4_0');
    const q8Gate = await run(['--model', q8, ...gateBase, '--gate', 'q8_0', '--json']);
    expect(q8Gate.status).toBe(0);
    const report = JSON.parse(q8Gate.stdout);
    expect(report.gate.anchor.statistics).toEqual(report.statistics); // the anchor is llama.cpp's Q8_0 file, byte for byte the model
    expect(q8Gate.stderr).toMatch(/^peregrine eval: the anchor: the reference quantized to Q8_0 \(48 tensors, \d+ bytes\)\nperegrine eval: 4 windows of 128 tokens, 2 model\(s\) and the reference, in [\d.]+ s\n$/);
    expect((await run(['--model', q4, ...gateBase, '--gate', 'q4_0'])).status).toBe(0);
    const q4AtQ8 = await run(['--model', q4, ...gateBase, '--gate', 'q8_0']);
    expect(q4AtQ8.status).toBe(GATE_MISSED_EXIT_STATUS);
    expect(q4AtQ8.stdout).toMatch(/mean KLD : [\d.]+ <= [\d.]+ \(anchor\)  MISSED\nsame top : [\d.]+% >= [\d.]+% \(anchor\)  MISSED\n/);
  });

  it('the built CLI: exit 3 on a missed gate, 2 with the error code for bad input (npm test builds dist/ first)', async () => {
    const q4 = await quantizedCopy('Q4_0');
    const cli = (...args: string[]) => spawnSync(process.execPath, [resolve(import.meta.dirname, '../../dist/cli/main.js'), 'eval', ...args], { encoding: 'utf8', timeout: 60_000 });
    const missed = cli('--model', q4, ...gateBase, '--gate', 'q8_0', '--threads', '1');
    expect(missed.status).toBe(GATE_MISSED_EXIT_STATUS);
    expect(missed.stdout).toMatch(/gate q8_0: MISSED\n$/);
    const bad = cli('--model', join(dir, 'nope.gguf'), ...base);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^peregrine: error \[FILE_NOT_FOUND\]: --model: file not found/);
  });

  it('typed errors before any model loads: missing files, bad flags, unknown gate', async () => {
    const code = (p: Promise<unknown>) => p.then(() => 'ok', (e: unknown) => (e instanceof InvalidRequestError ? `${e.code}: ${e.message}` : String(e)));
    expect(await code(run(['--model', join(dir, 'nope.gguf'), ...base]))).toMatch(/^FILE_NOT_FOUND: --model: file not found: .*nope\.gguf/);
    expect(await code(run(['--model', STORIES_260K, '--reference', STORIES_260K, '--text', join(dir, 'nope.txt')]))).toMatch(/^FILE_NOT_FOUND: --text/);
    expect(await code(run(['--model', STORIES_260K, '--text', SAMPLED_TEXT]))).toMatch(/^INVALID_ARGUMENT: --reference is required/);
    expect(await code(run(['--model', STORIES_260K, ...base, '--context', '3']))).toMatch(/^INVALID_ARGUMENT: --context must be at least 4/);
    expect(await code(run(['--model', STORIES_260K, ...base, '--gate', 'q5_0']))).toMatch(/^INVALID_ARGUMENT: --gate must be one of fp8, q8_0, mxfp4, nvfp4, q4_0, calibrated-4bit/);
    expect(await code(run(['--model', dir, ...base]))).toMatch(/^INVALID_ARGUMENT: --model: not a regular file/);
  });

  it('a text shorter than one window: TEXT_TOO_SHORT with the counts', async () => {
    const short = join(dir, 'short.txt');
    writeFileSync(short, 'Once upon a time, there was a little girl named Lily.\n');
    await expect(run(['--model', STORIES_260K, '--reference', STORIES_260K, '--text', short])).rejects.toMatchObject({
      code: 'TEXT_TOO_SHORT',
      message: expect.stringMatching(/the text is \d+ tokens; one window needs 512/),
    });
  });

  it('a model with another vocabulary: VOCAB_MISMATCH', async () => {
    const tinyRandom = join(SHARED_MODELS, 'tiny-random/llama-2-tiny-random.gguf');
    await expect(run(['--model', tinyRandom, ...base, '--context', '64'])).rejects.toMatchObject({
      code: 'VOCAB_MISMATCH',
      message: expect.stringMatching(/different vocabularies: 32000 tokens vs 512/),
    });
  });
});
