import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { inProcess } from './in-process.js';

// runs the built CLI (npm test builds first), exactly as `npx peregrine` would
const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');
const dir = mkdtempSync(join(tmpdir(), 'peregrine-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** `peregrine ...args` in a process of its own: for what the process boundary decides (exit status, what reaches stdout) */
function peregrine(...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('peregrine CLI', () => {
  it('generate with no --model uses the bundled model and prints only the text on stdout', () => {
    const r = peregrine('generate', '--prompt', 'Once upon a time', '--max-tokens', '20', '--temperature', '0');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^, there was a little girl named Lily\./);
    expect(r.stdout).not.toMatch(/peregrine|tokens\/s/);
    expect(r.stderr).toMatch(/20 generated/);
  });

  it('generate --max-tokens 0 prints nothing on stdout and no nonsense timing (it printed "in -254 ms")', async () => {
    const r = await inProcess('generate', '--prompt', 'Once upon a time', '--max-tokens', '0');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/peregrine: 5 prompt tokens, none generated \(--max-tokens 0 runs no model step\)\n$/);
    expect(r.stderr).not.toMatch(/-\d+ ms/);
  });

  it('generate gives the same greedy text on the native and the reference backend', async () => {
    const args = ['generate', '--prompt', 'Once upon a time', '--max-tokens', '40', '--temperature', '0', '--threads', '1'];
    const reference = await inProcess(...args, '--backend', 'reference');
    expect(reference.code).toBe(0);
    expect(reference.stderr).toMatch(/\(reference kernels\)/);
    const auto = await inProcess(...args);
    expect(auto.stdout).toBe(reference.stdout);
  });

  it('generate is reproducible with --seed', async () => {
    const args = ['generate', '--prompt', 'Once upon a time', '--max-tokens', '30', '--temperature', '0.9', '--seed', '42'];
    const a = await inProcess(...args);
    const b = await inProcess(...args);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(b.stdout);
    expect(a.stdout.length).toBeGreaterThan(20);
  });

  it('tokenize prints a JSON array of ids', async () => {
    const r = await inProcess('tokenize', '--text', 'Once upon a time');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual([1, 403, 407, 261, 378]);
    expect(JSON.parse((await inProcess('tokenize', '--text', 'Once upon a time', '--no-special')).stdout)).toEqual([403, 407, 261, 378]);
  });

  it('info prints architecture, shapes, types, parameters and size', async () => {
    const r = await inProcess('info');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/architecture:\s+llama/);
    expect(r.stdout).toMatch(/parameters:\s+292\.8K/);
    expect(r.stdout).toMatch(/F32 ×48/);
    expect(r.stdout).toMatch(/embedding_length: 64/);
    const json = JSON.parse((await inProcess('info', '--json')).stdout);
    expect(json.numParameters).toBe(292800);
    expect(json.hyperparameters.block_count).toBe(5);
  });

  it('info --kv-memory: full-context sequences a KV cache of that size holds, per KV cache type', async () => {
    // stories260K: 5 layers, 4 KV heads of 8 → per token 5 × (K + V) × 32 values: 640 bytes in f16, 340 in q8_0
    const r = await inProcess('info', '--kv-memory', '1', '--context-size', '512');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/KV capacity:\s+sequences of 512 tokens in 1 GiB of KV cache/);
    for (const [type, n] of [['f32', 1638], ['f16', 3276], ['bf16', 3276], ['fp8', 6553], ['q8_0', 6168]] as const) {
      expect(r.stdout).toMatch(new RegExp(`^  ${type}\\s+${n}  `, 'm'));
    }
    const json = JSON.parse((await inProcess('info', '--json', '--kv-memory', '1', '--context-size', '512')).stdout);
    expect(json.kvCapacity.types[4]).toEqual({ kvCacheType: 'q8_0', bytesPerToken: 340, numSequences: 6168 });
  });

  it('generate runs with --kv-cache-type q8_0, fp8 and bf16', async () => {
    for (const type of ['q8_0', 'fp8', 'bf16']) {
      const r = await inProcess('generate', '--prompt', 'Once upon a time', '--max-tokens', '8', '--temperature', '0', '--kv-cache-type', type);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.length).toBeGreaterThan('Once upon a time'.length);
    }
  });

  it('bad input: exit code 2 and a message naming the problem, never a stack trace', async () => {
    const cases: [string[], RegExp][] = [
      [['generate', '--max-tokens', 'many'], /--max-tokens must be an integer/],
      [['generate', '--temperature', '-3'], /temperature/],
      [['generate', '--bogus'], /unknown option '--bogus' for 'generate'; valid options: --model, --prompt, /],
      [['generate', '--prompt', 'Once upon a time '.repeat(300), '--context-size', '64'], /PROMPT_TOO_LONG/],
      [['generate', '--context-size', '1000000000'], /context size 1000000000 exceeds the model's trained context of 2048 tokens/],
      [['generate', '--context-size', '0'], /context size must be a positive integer \(got 0\)/],
      [['generate', '--kv-cache-type', 'q4_0'], /--kv-cache-type must be one of f32, f16, bf16, fp8, q8_0 \(got 'q4_0'\)/],
      [['frobnicate'], /unknown command 'frobnicate'/],
      [['generate', '--backend', 'gpu'], /--backend must be one of auto, native, reference/],
      [['generate', '--threads', '1.5'], /--threads must be an integer/],
      [['generate', '--threads', '0'], /--threads must be from 1 to \d+ \(the cores available; got 0\)/],
      [['serve', '--threads', '100000'], /--threads must be from 1 to \d+ .*got 100000/],
      [['bench', '--threads', '0', '--no-peer'], /--threads must be from 1 to/],
      [['serve', '--port', '70000'], /--port must be from 0 to 65535 \(got 70000\)/],
      [['serve', '--port=-1'], /--port must be from 0 to 65535 \(got -1\)/],
      [['serve', '--max-unread-bytes', '0'], /--max-unread-bytes must be at least 1 \(got 0\)/],
      [['serve', '--host', '203.0.113.7', '--port', '0'], /203\.0\.113\.7:0 is not an address of this machine/],
      [['generate', '--matmul-precision', 'fp8'], /--matmul-precision must be one of exact, bf16/],
      [['serve', '--matmul-precision', 'int4'], /--matmul-precision must be one of exact, bf16/],
      [['serve', '--cors-origin', 'app.example.com'], /CORS origin 'app\.example\.com' must be \* or scheme:\/\/host\[:port\]/],
      [['serve', '--log-level', 'loud'], /--log-level must be one of trace, debug, info, warn, error, silent \(got 'loud'\)/],
      [['serve', '--log-format', 'xml'], /--log-format must be one of text, json \(got 'xml'\)/],
      [['serve', '--max-num-seqs', '0'], /--max-num-seqs must be at least 1 \(got 0\)/],
      [['serve', '--max-queue', 'lots'], /--max-queue must be an integer \(got 'lots'\)/],
      [['serve', '--context-size', '0'], /--context-size must be at least 1 \(got 0\)/],
      // checked before the model loads: the missing model file is never reached
      [['generate', '--model', join(dir, 'absent.gguf'), '--max-tokens', 'abc'], /--max-tokens must be an integer \(got 'abc'\)/],
      [['generate', '--model', join(dir, 'absent.gguf'), '--temperature=-3'], /temperature must be/],
      [['generate', '--model', join(dir, 'absent.gguf'), '--top-p', '2'], /topP must be/],
      [['serve', '--model', join(dir, 'absent.gguf'), '--max-num-seqs=-2'], /--max-num-seqs must be at least 1/],
      [['serve', '--model', join(dir, 'absent.gguf'), '--threads', '0'], /--threads must be from 1 to/],
    ];
    for (const [args, message] of cases) {
      const r = await inProcess(...args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
  });

  it('a busy port is said before the model loads, in one line (it was an internal error after loading)', async () => {
    const busy = createNetServer().listen(0, '127.0.0.1');
    await once(busy, 'listening');
    try {
      const port = (busy.address() as AddressInfo).port;
      const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
      const [code] = (await once(child, 'close')) as [number];
      expect(code).toBe(2);
      expect(stderr).toBe(`peregrine: error [INVALID_ARGUMENT]: 127.0.0.1:${port} is already in use\n`);
    } finally {
      busy.close();
    }
  });

  it('serve --config: unknown keys, bad values and unreadable files are named before the model loads (exit 2)', async () => {
    const config = (name: string, text: string) => {
      const p = join(dir, name);
      writeFileSync(p, text);
      return p;
    };
    const absent = join(dir, 'absent.gguf');
    const cases: [string, RegExp][] = [
      [config('unknown.yaml', 'maxNumSeq: 4\n'), /--config \S+unknown\.yaml: 'maxNumSeq' is not an option of 'serve'; valid keys: model, host, port, /],
      [config('bad-value.yaml', `model: ${absent}\nmaxNumSeqs: abc\n`), /--config \S+bad-value\.yaml: 'maxNumSeqs': --max-num-seqs must be an integer \(got 'abc'\)/],
      [config('bad-level.json', `{"model": ${JSON.stringify(absent)}, "log-level": "loud"}`), /'log-level': --log-level must be one of trace, /],
      [config('bad-shape.yaml', 'port: [1, 2]\n'), /'port' must be a string or a number/],
      [config('twice.yaml', 'max-queue: 1\nmaxQueue: 2\n'), /'maxQueue' is given twice/],
      [config('nested.yaml', 'config: other.yaml\n'), /'config' is not an option of 'serve'/],
      [config('list.yaml', '- port: 1\n'), /must hold a mapping of option names to values/],
      [config('broken.yaml', 'port: [1\n'), /is not valid YAML or JSON/],
      [join(dir, 'no-such-config.yaml'), /--config: cannot read \S+no-such-config\.yaml \(ENOENT\)/],
    ];
    for (const [file, message] of cases) {
      const r = await inProcess('serve', '--config', file);
      expect(r.code, file).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.split('\n')).toHaveLength(2); // one line
    }
  });

  it('bad model file: exit code 1 with the typed error', async () => {
    const p = join(dir, 'bad.gguf');
    writeFileSync(p, 'GGUF');
    const r = peregrine('generate', '--model', p);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/GGUF_TRUNCATED/);
    expect((await inProcess('info', join(dir, 'missing.gguf'))).stderr).toMatch(/FILE_NOT_FOUND/);
  });
});

/** `peregrine serve --port 0 ...args`, once it listens: its URL, its stderr so far, the process */
async function startServe(args: string[], env: NodeJS.ProcessEnv = process.env) {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', '0', ...args], { stdio: ['ignore', 'ignore', 'pipe'], env });
  const served = { child, url: '', stderr: '' };
  child.stderr.setEncoding('utf8');
  served.url = await new Promise<string>((resolve, reject) => {
    child.stderr.on('data', (d: string) => {
      served.stderr += d;
      const m = /on (http:\/\/\S+)\/v1/.exec(served.stderr);
      if (m) resolve(m[1]!);
    });
    child.once('exit', () => reject(new Error(`serve exited: ${served.stderr}`)));
  });
  return served;
}

describe('peregrine serve', () => {
  it('serves the bundled model, answers a completion, and drains on SIGTERM', async () => {
    const served = await startServe([]);
    const { child, url } = served;
    const res = await fetch(`${url}/v1/completions`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: 'Once upon a time', max_tokens: 12, temperature: 0 }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { text: string }[] };
    expect(body.choices[0]!.text).toMatch(/^, there was a little girl/);
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(served.stderr).toMatch(/SIGTERM: finishing in-flight requests[\s\S]*stopped/);
  });

  it('takes the API key from PEREGRINE_API_KEY (not only a flag ps shows), model aliases and CORS origins', async () => {
    const { child, url } = await startServe(
      ['--model-alias', 'gpt-3.5-turbo', '--model-alias', 'tiny', '--cors-origin', 'https://app.example.com'],
      { ...process.env, PEREGRINE_API_KEY: 'sk-from-env' },
    );
    try {
      expect((await fetch(`${url}/v1/models`)).status).toBe(401);
      const res = await fetch(`${url}/v1/models`, { headers: { authorization: 'Bearer sk-from-env', origin: 'https://app.example.com' } });
      expect(res.status).toBe(200);
      expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
      const body = (await res.json()) as { data: { id: string }[] };
      expect(body.data.map((m) => m.id)).toEqual(['stories260K', 'gpt-3.5-turbo', 'tiny']);
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
  });
});

describe('peregrine serve --config and logs', () => {
  it('takes every option from a YAML file, camelCase or kebab-case; flags on the command line win; --log-format json', async () => {
    const file = join(dir, 'peregrine.yaml');
    writeFileSync(file, ['modelName: from-file', 'model-alias: [tiny, gpt-3.5-turbo]', 'maxNumSeqs: 2', 'logFormat: json', 'logLevel: info', 'port: 1'].join('\n'));
    // --port 0 (startServe) overrides the file's port 1, --model-name the file's modelName
    const served = await startServe(['--config', file, '--model-name', 'from-flag']);
    const { child, url } = served;
    try {
      const body = (await (await fetch(`${url}/v1/models`)).json()) as { data: { id: string }[] };
      expect(body.data.map((m) => m.id)).toEqual(['from-flag', 'tiny', 'gpt-3.5-turbo']);
      const res = await fetch(`${url}/v1/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-request-id': 'cli-req-1' },
        body: JSON.stringify({ model: 'tiny', prompt: 'Once upon a time', max_tokens: 4 }),
      });
      expect(res.status).toBe(200);
      await res.text();
    } finally {
      const exited = once(child, 'exit');
      child.kill('SIGTERM');
      await exited;
    }
    const records = served.stderr.trim().split('\n').map((line) => JSON.parse(line) as Record<string, unknown>);
    expect(records[0]).toMatchObject({ level: 30, msg: expect.stringMatching(/^serving from-flag \(llama, .+\) on http:\/\/127\.0\.0\.1:\d+\/v1$/) });
    expect(records.find((r) => r.request_id === 'cli-req-1')).toMatchObject({ msg: 'request', route: '/v1/completions', status: 200, completion_tokens: 4 });
    expect(records.at(-1)).toMatchObject({ level: 30, msg: 'stopped' });
  });

  it('text logs by default: one readable line per request; --log-level warn drops them', async () => {
    const served = await startServe([]);
    await (await fetch(`${served.url}/v1/models`, { headers: { 'x-request-id': 'cli-text-1' } })).text();
    await (await fetch(`${served.url}/nowhere`)).text();
    const exited = once(served.child, 'exit');
    served.child.kill('SIGTERM');
    await exited;
    expect(served.stderr).toMatch(/^\S+Z INFO  serving stories260K .* on http:\S+\/v1\n/);
    expect(served.stderr).toMatch(/\n\S+Z INFO  request request_id=cli-text-1 method=GET route=\/v1\/models status=200 prompt_tokens=0 completion_tokens=0 duration_ms=[\d.]+\n/);
    expect(served.stderr).toMatch(/\n\S+Z WARN  request request_id=\S+ method=GET route=\/nowhere status=404 .* error_code=not_found\n/);

    // at warn the startup line (info) is not written either: find the server by its port
    const probe = createNetServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const port = (probe.address() as AddressInfo).port;
    await new Promise((resolve) => probe.close(resolve));
    const quiet = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--log-level', 'warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
    let quietStderr = '';
    quiet.stderr.on('data', (d: Buffer) => (quietStderr += d.toString()));
    const quietExit = once(quiet, 'exit');
    try {
      let status = 0;
      for (let i = 0; i < 200 && status !== 200; i++) {
        status = await fetch(`http://127.0.0.1:${port}/v1/models`).then((r) => r.status, () => 0);
        if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(status).toBe(200);
      expect((await fetch(`http://127.0.0.1:${port}/nowhere`)).status).toBe(404);
    } finally {
      quiet.kill('SIGTERM');
      await quietExit;
    }
    expect(quietStderr).not.toMatch(/INFO|status=200/);
    expect(quietStderr).toMatch(/^\S+Z WARN  request .*status=404/m);
  });
});

describe('peregrine bench', () => {
  // --no-peer: in this process, a bench with the peer would run itself again (the next case checks that)
  it('rejects bad flags with exit code 2', async () => {
    const cases: [string[], RegExp][] = [
      [['bench', '--type', 'Q9_9'], /--type must be one of/],
      [['bench', '--model', join(dir, 'nothing.gguf')], /no file .*nothing\.gguf and no shape/],
      [['bench', '--requests', '0'], /--requests must be at least 1/],
      [['bench', '--server-trials', '0'], /--server-trials must be at least 1/],
      [['bench', '--server-requests', '0'], /--server-requests must be at least 1/],
    ];
    for (const [args, message] of cases) {
      const r = await inProcess(...args, '--no-peer');
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
    }
  });

  it("runs itself again with UV_THREADPOOL_SIZE=1 (llama.cpp's best setting) when it is not set, passing on the exit status", () => {
    const env = { ...process.env };
    delete env.UV_THREADPOOL_SIZE;
    const args = [CLI, 'bench', '--model', join(dir, 'nothing.gguf')];
    const rerun = spawnSync(process.execPath, args, { encoding: 'utf8', env });
    expect(rerun.status).toBe(2);
    expect(rerun.stderr).toMatch(/^peregrine bench: running again with UV_THREADPOOL_SIZE=1 .*\nperegrine: error \[INVALID_ARGUMENT\]: --model: no file/);
    const direct = spawnSync(process.execPath, args, { encoding: 'utf8', env: { ...env, UV_THREADPOOL_SIZE: '1' } });
    expect(direct.status).toBe(2);
    expect(direct.stderr).not.toMatch(/running again/);
  });

  it('runs on the bundled stories260K, whose vocabulary has only 512 tokens (it failed: vocabSize must exceed 2304)', () => {
    const model = resolve(import.meta.dirname, '../../models/stories260K/stories260K.gguf');
    const r = spawnSync(
      process.execPath,
      [CLI, 'bench', '--model', model, '--no-peer', '--requests', '4', '--server-seconds', '1', '--server-trials', '1', '--threads', '1', '--out', join(dir, 'bench-small'), '--history', join(dir, 'BENCH-small.md')],
      { encoding: 'utf8', timeout: 60_000 },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| offline \| all at once \| 4 \|/);
  });

  it('runs SingleStream, Offline and the Server rate search, writing JSON, Markdown, SVG and history', () => {
    const out = join(dir, 'bench');
    const history = join(dir, 'BENCH.md');
    const r = spawnSync(
      process.execPath,
      [CLI, 'bench', '--model', 'llama-110m', '--no-peer', '--requests', '4', '--input-median', '8', '--output-median', '4', '--server-seconds', '1', '--server-trials', '3', '--threads', '1', '--out', out, '--history', history],
      { encoding: 'utf8', timeout: 110_000, env: { ...process.env, XDG_CACHE_HOME: join(dir, 'cache') } },
    );
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/\| single-stream \| 1 in flight \| 2 \|/);
    expect(r.stdout).toMatch(/\| offline \| all at once \| 4 \|/);
    expect(r.stdout).toMatch(/highest rate meeting TTFT p99 ≤ 2000 ms and TPOT p99 ≤ 200 ms: [\d.]+ req\/s \(.*3 trials/);
    // the comparison table leads, with — for the skipped peer
    expect(r.stdout).toMatch(/### Peregrine vs llama\.cpp \(skipped\)\n\n\| Metric \| Peregrine \([\w-]+\) \| llama\.cpp \| Ratio \(×, > 1 = Peregrine better\) \|/);
    expect(r.stdout).toMatch(/\| Offline output tok\/s \| [\d.]+ \| — \| — \|/);
    expect(r.stdout).toMatch(/\| Server max rate meeting constraints \(req\/s\) \| [\d.]+ \| — \| — \|/);
    const [run] = readdirSync(out);
    const files = readdirSync(join(out, run!)).sort();
    expect(files).toEqual(['report.json', 'report.md', 'throughput-latency.svg', 'tpot-distribution.svg', 'ttft-distribution.svg']);
    const report = JSON.parse(readFileSync(join(out, run!, 'report.json'), 'utf8'));
    expect(report[0].results.map((x: { scenario: string }) => x.scenario).slice(0, 2)).toEqual(['single-stream', 'offline']);
    expect(readFileSync(join(out, run!, 'throughput-latency.svg'), 'utf8')).toMatch(/^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    expect(readFileSync(history, 'utf8')).toMatch(/^# Benchmarks[\s\S]*## \d{4}-\d\d-\d\d · \w+ · llama-110m Q4_0, 1 threads\n\n- engines: Peregrine \([\w-]+\) \(peer skipped\)\n- SingleStream TTFT p50 \(ms\): [\d.]+\n/);
  });
});
