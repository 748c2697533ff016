import { afterAll, describe, expect, it } from 'vitest';
import { loadModel } from '../../src/api/index.js';
import { DEFAULT_MODEL_PATH } from '../../src/cli/default-model.js';
import { inProcessWithInput } from './in-process.js';

// the CLI in this process (runCli, as dist/cli/main.js runs it), stdin a pipe holding `input`; the
// exit status a shell sees is checked by the tests that spawn dist/cli/main.js (cli, help)
const model = await loadModel(DEFAULT_MODEL_PATH);
afterAll(() => model.dispose());

const peregrine = (input: string | undefined, ...args: string[]) => inProcessWithInput(input ?? '', ...args);

describe('peregrine embed', () => {
  it('prints a JSON array with the library vector of each TEXT', async () => {
    const r = await peregrine(undefined, 'embed', 'Once upon a time', 'Lily');
    expect(r.code).toBe(0);
    const vectors = JSON.parse(r.stdout) as number[][];
    expect(vectors).toEqual((await model.embed(['Once upon a time', 'Lily'])).map((v) => Array.from(v)));
  });

  it('reads one text per non-empty stdin line; --format text --pooling last --no-normalize', async () => {
    const r = await peregrine('a cat\n\nthe dog\n', 'embed', '--format', 'text', '--pooling', 'last', '--no-normalize');
    expect(r.code).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    const expected = await model.embed(['a cat', 'the dog'], { pooling: 'last', normalize: false });
    lines.forEach((line, i) => expect(line.split(' ').map(Number)).toEqual(Array.from(expected[i]!)));
  });

  it('refuses bad flags (exit 2) and an empty stdin', async () => {
    expect(await peregrine(undefined, 'embed', '--pooling', 'max', 'x')).toMatchObject({ code: 2, stdout: '' });
    expect((await peregrine(undefined, 'embed', '--format', 'csv', 'x')).stderr).toMatch(/--format must be json or text/);
    expect((await peregrine('\n', 'embed')).stderr).toMatch(/no text to embed/);
  });
});

describe('peregrine chat', () => {
  it('off a terminal, answers the stdin message as a ChatSession does', async () => {
    const r = await peregrine('Tell me a story\n', 'chat', '--system', 'Be kind.', '--temperature', '0', '--max-tokens', '24');
    expect(r.code).toBe(0);
    const expected = await model.chat({ systemPrompt: 'Be kind.' }).prompt('Tell me a story', { temperature: 0, maxTokens: 24 });
    expect(r.stdout).toBe(expected + '\n');
  });
});
