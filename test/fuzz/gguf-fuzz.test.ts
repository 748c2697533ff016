import { rmSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { describeMutations, isCleanMessage, justifyAccepted, loadBaseFiles, makeFuzzDir, runCase, type CaseResult } from './gguf-fuzz-run.js';
import { mutateGguf } from './gguf-mutator.js';

// A fixed slice of the long run (`npm run fuzz -- --cases 10000`): the same seeds every time.
const IN_PROCESS_CASES = 300;
const CLI_CASES = 10;
const dir = makeFuzzDir();
const bases = loadBaseFiles(dir);
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Problems as replayable lines: `seed N: outcome CODE message | mutations`. */
function problems(results: readonly CaseResult[]): string[] {
  return results
    .filter((r) => r.outcome !== 'clean' && r.outcome !== 'accepted')
    .map((r) => `seed ${r.seed} (${r.via}): ${r.outcome} ${r.code ?? ''} ${(r.message ?? '').slice(0, 200)} | ${describeMutations(r.mutations)}`);
}

describe('GGUF fuzzing: mutated files end in a clean error or a justified load', () => {
  it('the mutator is deterministic per seed and changes the file', () => {
    for (const base of bases) {
      for (const seed of [1, 2, 3, 77]) {
        const a = mutateGguf(base.layout, seed);
        const b = mutateGguf(base.layout, seed);
        expect(Buffer.compare(a.bytes, b.bytes)).toBe(0);
        expect(a.mutations).toEqual(b.mutations);
      }
    }
  });

  it(`${IN_PROCESS_CASES} cases in-process (readGguf, loadModel, 2 greedy tokens): no crash, no hang, bounded messages`, async () => {
    const results: CaseResult[] = [];
    for (let seed = 1; seed <= IN_PROCESS_CASES; seed++) results.push(await runCase(bases, seed, dir, { via: 'in-process', timeoutMs: 10_000 }));
    expect(problems(results)).toEqual([]);
    for (const r of results) if (r.message !== undefined) expect(isCleanMessage(r.message)).toBe(true);
    // every file that loaded was changed only in ways a loader cannot or need not refuse
    const unjustified = results.filter((r) => r.outcome === 'accepted' && !r.isDataOnly && justifyAccepted(r.mutations) === undefined);
    expect(unjustified.map((r) => `seed ${r.seed}: ${describeMutations(r.mutations)}`)).toEqual([]);
    // most mutations must be caught: a loader that accepted everything would pass the rest
    expect(results.filter((r) => r.outcome === 'clean').length).toBeGreaterThan(IN_PROCESS_CASES / 2);
  }, 60_000);

  it('the long run\'s finds stay fixed: block_count 2^62 (seed 5978, a RangeError), a 5000-character tokenizer model name (seed 7898, a message over 1 KB)', async () => {
    const results: CaseResult[] = [];
    for (const seed of [5978, 7898]) {
      results.push(await runCase(bases, seed, dir, { via: 'in-process', timeoutMs: 10_000 }));
      results.push(await runCase(bases, seed, dir, { via: 'cli', timeoutMs: 20_000 }));
    }
    expect(problems(results)).toEqual([]);
    expect(results.map((r) => r.outcome)).toEqual(['clean', 'clean', 'clean', 'clean']);
  }, 60_000);

  it(`${CLI_CASES} cases through \`peregrine generate\` in a child process: no signal, no hang, one error line`, async () => {
    const results: CaseResult[] = [];
    // every 31st seed: a spread of mutation kinds over both base files
    for (let i = 0; i < CLI_CASES; i++) results.push(await runCase(bases, 1 + i * 31, dir, { via: 'cli', timeoutMs: 20_000 }));
    expect(problems(results)).toEqual([]);
  }, 120_000);
});
