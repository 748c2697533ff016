import { spawn, spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PassThrough } from 'node:stream';
import { runPlan } from '../../src/cli/commands/plan.js';
import { runServe } from '../../src/cli/commands/serve.js';
import { InvalidRequestError } from '../../src/errors/engine-error.js';
import { readPlanFile } from '../../src/planner/plan-file.js';

// runs the built CLI (npm test builds first), exactly as `npx peregrine` would
const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');
const STORIES = resolve(import.meta.dirname, '../../models/stories260K/stories260K.gguf');
const dir = mkdtempSync(join(tmpdir(), 'peregrine-cli-plan-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function peregrine(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 90_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/**
 * A tiny sweep: stories260K and its Q8_0 (gated), KV f16, batches 1 and 2, TP 1 and 2, PP 1. TP=2
 * loads through loadModel's tensorParallel: until the engine side is merged that option is
 * ignored (the row is one worker again); once merged these rows run on 2 workers and the same
 * expectations hold (stories260K's 8 heads and 4 KV heads split in 2).
 */
const SWEEP = ['--tensor-parallel', '1,2', '--pipeline-parallel', '1', '--batch-sizes', '1,2', '--kv-cache-types', 'f16', '--prompt-tokens', '16', '--output-tokens', '8'];

describe('peregrine plan', () => {
  it('sweeps, gates the format, prints the table and the choice, and writes a plan that serve --plan runs', async () => {
    const output = join(dir, 'plan.json');
    const r = peregrine('plan', '--model', STORIES, '--formats', 'Q8_0', '--cache-dir', dir, '--max-ttft-ms', '60000', '--max-tpot-ms', '60000', '--output', output, ...SWEEP);
    expect(r.stderr).toMatch(/Q8_0: gate q8_0 passed: mean KLD/);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('|  | TP | PP | threads | batch | format | KV | TTFT ms | TPOT ms | tok/s | gate | within budget |');
    const rows = lines.filter((l) => /^\| \*? ?\| \d/.test(l));
    expect(rows).toHaveLength(2 * 2 * 2); // 2 files x TP 1, 2 x batches 1, 2
    for (const row of rows) expect(row).toMatch(/\| (1 \| 1 \| \d+|2 \| 1 \| \d+) \| [12] \| (stories260K|Q8_0) \| f16 \| [\d.]+ \| [\d.]+ \| [\d.]+ \| (reference|q8_0 passed) \| yes \|$/);
    expect(rows.filter((l) => l.startsWith('| * '))).toHaveLength(1);
    expect(r.stdout).toMatch(/^choice: TP=[12] PP=1, \d+ threads? per worker, batch [12], (stories260K|Q8_0), KV f16: [\d.]+ tok\/s/m);
    const plan = readPlanFile(output);
    expect(plan).toMatchObject({ pipelineParallel: 1, parallelTransport: 'shared-memory', kvCacheType: 'f16' });
    expect(rows.find((l) => l.startsWith('| * '))).toContain(`| ${plan.tensorParallel} | 1 | ${plan.threads} | ${plan.maxNumSeqs} |`);

    // serve --plan loads the plan's model; a flag given wins over the plan
    const planned = join(dir, 'planned-model.gguf');
    copyFileSync(STORIES, planned);
    const mine = join(dir, 'mine.json');
    writeFileSync(mine, JSON.stringify({ ...JSON.parse(readFileSync(output, 'utf8')), model: planned }));
    expect(await serveLine(['--plan', mine])).toMatch(/serving planned-model \(llama, /);
    expect(await serveLine(['--plan', mine, '--model', STORIES])).toMatch(/serving stories260K \(llama, /);
  }, 120_000);

  it('nothing fits: the table, the closest configuration named, exit 3 and no plan file', () => {
    const output = join(dir, 'none.json');
    const r = peregrine('plan', '--model', STORIES, '--max-tpot-ms', '0.0001', '--output', output, '--tensor-parallel', '1', ...SWEEP.slice(2));
    expect(r.code).toBe(3);
    expect(r.stdout).toMatch(/^\|  \| 1 \| 1 \| \d+ \| 1 \| stories260K \| f16 \| .* \| reference \| no \|$/m);
    expect(r.stdout).toMatch(/no configuration meets TPOT <= 0\.0001 ms; the closest is TP=1 PP=1, .*x its bound\)/);
    expect(r.stderr).toMatch(/none\.json not written: there is no choice/);
    expect(() => readFileSync(output)).toThrow();
  }, 60_000);

  it('refuses bad arguments before loading anything (exit 2)', async () => {
    const r = peregrine('plan', '--model', STORIES, '--max-tpot-ms', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--max-tpot-ms must be above 0 \(got 0\)/);
    expect(r.stdout).toBe('');
    // the rest in process (each a spawned CLI would add a second or two): the same InvalidRequestError main turns into exit 2
    const cases: [string[], RegExp][] = [
      [[], /--model is required/],
      [['--model', join(dir, 'absent.gguf')], /--model: file not found/],
      [['--model', STORIES, '--max-ttft-ms', 'fast'], /--max-ttft-ms must be a number \(got 'fast'\)/],
      [['--model', STORIES, '--formats', 'Q3_K'], /unknown quantization format 'Q3_K'/],
      [['--model', STORIES, '--formats', 'Q6_K'], /--formats Q6_K has no accuracy gate of its name: give one with --gate/],
      [['--model', STORIES, '--candidates', STORIES], /--candidates \S+ has no accuracy gate of its name/],
      [['--model', STORIES, '--gate', 'strict'], /--gate must be one of fp8, q8_0/],
      [['--model', STORIES, '--tensor-parallel', '1,x'], /--tensor-parallel must be an integer \(got 'x'\)/],
      [['--model', STORIES, '--tensor-parallel', '4096'], /tensor-parallel must be an integer from 1 to \d+ \(the cores\) \(got 4096\)/],
      [['--model', STORIES, '--kv-cache-types', 'q4'], /--kv-cache-types must be one of f32, f16, bf16, fp8, q8_0 \(got 'q4'\)/],
      [['--model', STORIES, '--parallel-transport', 'tcp'], /--parallel-transport must be one of shared-memory, socket/],
      [['--model', STORIES, '--gate-context', '2'], /--gate-context must be at least 4 \(got 2\)/],
      [['--model', STORIES, '--bogus'], /unknown option '--bogus' for 'plan'/],
    ];
    for (const [args, message] of cases) {
      const out = new PassThrough();
      await expect(runPlan(args, out, new PassThrough()), args.join(' ')).rejects.toThrow(InvalidRequestError);
      await expect(runPlan(args, out, new PassThrough()), args.join(' ')).rejects.toThrow(message);
      expect(out.read()).toBeNull();
    }
  });
});

describe('peregrine serve --plan', () => {
  it('a bad plan file is a clear error before the model loads', async () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify({ model: STORIES, tensorParallel: 1, pipelineParallel: 1, parallelTransport: 'shared-memory', threads: 1, maxNumSeqs: 0, kvCacheType: 'f16' }));
    const huge = join(dir, 'huge.json');
    writeFileSync(huge, JSON.stringify({ model: STORIES, tensorParallel: 1, pipelineParallel: 1, parallelTransport: 'shared-memory', threads: 100000, maxNumSeqs: 1, kvCacheType: 'f16' }));
    const r = spawnSync(process.execPath, [CLI, 'serve', '--port', '0', '--plan', bad], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--plan \S+bad\.json: 'maxNumSeqs': Too small/);
    const cases: [string, RegExp][] = [
      [join(dir, 'absent.json'), /--plan \S+absent\.json: file not found/],
      [huge, /--plan \S+huge\.json: --threads must be from 1 to \d+/],
    ];
    for (const [file, message] of cases) await expect(runServe(['--port', '0', '--plan', file], new PassThrough()), file).rejects.toThrow(message);
  });
});

/** `peregrine serve --port 0 ...args` until it says what it serves: that line; then SIGTERM */
async function serveLine(args: string[]): Promise<string> {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', '--log-level', 'info', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8');
  try {
    return await new Promise<string>((resolve, reject) => {
      child.stderr.on('data', (d: string) => {
        stderr += d;
        const m = /serving .* on http:\S+/.exec(stderr);
        if (m) resolve(m[0]);
      });
      child.once('exit', () => reject(new Error(`serve exited: ${stderr}`)));
    });
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}
