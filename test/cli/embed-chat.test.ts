import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/api/index.js';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';

// runs the built CLI (npm test builds first), exactly as `npx peregrine` would
const CLI = resolve(import.meta.dirname, '../../dist/cli/main.js');
const model = await loadModel(DEFAULT_MODEL_PATH);
afterAll(() => model.dispose());

function peregrine(input: string | undefined, ...args: string[]) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', timeout: 60_000, input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('peregrine embed', () => {
  it('prints a JSON array with the library vector of each TEXT', async () => {
    const r = peregrine(undefined, 'embed', 'Once upon a time', 'Lily');
    expect(r.code).toBe(0);
    const vectors = JSON.parse(r.stdout) as number[][];
    expect(vectors).toEqual((await model.embed(['Once upon a time', 'Lily'])).map((v) => Array.from(v)));
  });

  it('reads one text per non-empty stdin line; --format text --pooling last --no-normalize', async () => {
    const r = peregrine('a cat\n\nthe dog\n', 'embed', '--format', 'text', '--pooling', 'last', '--no-normalize');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const expected = await model.embed(['a cat', 'the dog'], { pooling: 'last', normalize: false });
    lines.forEach((line, i) => expect(line.split(' ').map(Number)).toEqual(Array.from(expected[i]!)));
  });

  it('refuses bad flags (exit 2) and an empty stdin', () => {
    expect(peregrine(undefined, 'embed', '--pooling', 'max', 'x')).toMatchObject({ code: 2, stdout: '' });
    expect(peregrine(undefined, 'embed', '--format', 'csv', 'x').stderr).toMatch(/--format must be json or text/);
    expect(peregrine('\n', 'embed').stderr).toMatch(/no text to embed/);
  });
});

describe('peregrine chat', () => {
  it('off a terminal, answers the stdin message as a ChatSession does', async () => {
    const r = peregrine('Tell me a story\n', 'chat', '--system', 'Be kind.', '--temperature', '0', '--max-tokens', '24');
    expect(r.code).toBe(0);
    const expected = await model.chat({ systemPrompt: 'Be kind.' }).prompt('Tell me a story', { temperature: 0, maxTokens: 24 });
    expect(r.stdout).toBe(expected + '\n');
  });
});
