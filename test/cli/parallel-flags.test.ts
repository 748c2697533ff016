import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { formatHelp } from '../../src/cli/args.js';
import { BENCH_COMMAND, runBench } from '../../src/cli/commands/bench.js';
import { GENERATE_COMMAND, runGenerate } from '../../src/cli/commands/generate.js';
import { SERVE_COMMAND, runServe } from '../../src/cli/commands/serve.js';
import { InvalidRequestError } from '../../src/errors/engine-error.js';

// the exit code comes from the built CLI (npm run build first): --tensor-parallel, --pipeline-parallel and
// --parallel-transport on generate, serve and bench, checked before any model loads
const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');

function peregrine(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, UV_THREADPOOL_SIZE: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('parallel flags', () => {
  it('generate, serve and bench --help list them, and say --threads is per worker', () => {
    // (help.test.ts runs every command's --help through the built CLI; this reads the same text in-process)
    for (const command of [GENERATE_COMMAND, SERVE_COMMAND, BENCH_COMMAND]) {
      const stdout = formatHelp(command);
      expect(stdout).toMatch(/^ {2}--tensor-parallel N {2,}workers per pipeline stage/m);
      expect(stdout).toMatch(/^ {2}--pipeline-parallel M {2,}pipeline stages/m);
      expect(stdout).toMatch(/^ {2}--parallel-transport T {2,}how the N × M workers exchange activations/m);
      const flat = stdout.replace(/\s+/g, ' '); // the help wraps at 100 columns
      expect(flat).toMatch(/or socket \(processes on Unix sockets\) \(default: shared-memory\)/);
      expect(flat).toMatch(/--threads N [^-]*per worker with --tensor-parallel/);
    }
  });

  it('bad values: a message naming the flag, before the model loads; exit code 2 from the CLI', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peregrine-parallel-flags-'));
    const absent = join(dir, 'absent.gguf');
    const sink = new PassThrough();
    const cases: [Promise<unknown>, RegExp][] = [
      [runGenerate(['--model', absent, '--tensor-parallel', '0'], sink, sink), /--tensor-parallel must be at least 1 \(got 0\)/],
      [runGenerate(['--model', absent, '--pipeline-parallel', '1.5'], sink, sink), /--pipeline-parallel must be an integer \(got '1\.5'\)/],
      [runGenerate(['--model', absent, '--parallel-transport', 'pigeon'], sink, sink), /--parallel-transport must be one of shared-memory, socket \(got 'pigeon'\)/],
      [runServe(['--model', absent, '--tensor-parallel', 'two'], sink), /--tensor-parallel must be an integer \(got 'two'\)/],
      [runServe(['--model', absent, '--pipeline-parallel=-2'], sink), /--pipeline-parallel must be at least 1 \(got -2\)/],
      [runBench(['--model', absent, '--no-peer', '--tensor-parallel', '0'], sink, sink), /--tensor-parallel must be at least 1/],
      [runBench(['--model', absent, '--no-peer', '--parallel-transport', 'tcp'], sink, sink), /--parallel-transport must be one of shared-memory, socket/],
    ];
    for (const [run, message] of cases) {
      await expect(run).rejects.toThrow(InvalidRequestError);
      await expect(run).rejects.toThrow(message);
    }
    const r = peregrine('generate', '--model', absent, '--tensor-parallel', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^peregrine: error \[INVALID_ARGUMENT\]: --tensor-parallel must be at least 1 \(got 0\)\n$/);
  });

  it("serve's --config file takes them too, and names the key of a bad one", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'peregrine-parallel-config-'));
    const config = join(dir, 'serve.yaml');
    writeFileSync(config, 'tensorParallel: 2\npipeline-parallel: 0\n');
    await expect(runServe(['--config', config], new PassThrough())).rejects.toThrow(/'pipeline-parallel': --pipeline-parallel must be at least 1 \(got 0\)/);
  });
});
