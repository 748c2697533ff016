import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readPlanFile, toPlanFile, writePlanFile } from './plan-file.js';

const dir = mkdtempSync(join(tmpdir(), 'peregrine-plan-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = { modelPath: 'models/m.gguf', format: 'Q8_0', tensorParallel: 2, pipelineParallel: 1, threadsPerWorker: 1, maxNumSeqs: 8, kvCacheType: 'f16' as const };

function planAt(name: string, body: unknown): string {
  const path = join(dir, name);
  writeFileSync(path, typeof body === 'string' ? body : JSON.stringify(body));
  return path;
}

describe('plan file', () => {
  it('round-trips; a relative model path is read relative to the file', () => {
    const path = join(dir, 'plan.json');
    const plan = toPlanFile(config, 'socket', { ttftMs: 12, tpotMs: 3, tokensPerSecond: 90 }, { maxTpotMs: 5 });
    writePlanFile(path, plan);
    expect(readPlanFile(path)).toEqual(plan);
    const relative = planAt('relative.json', { ...plan, model: 'sub/m.gguf', measured: undefined, budget: undefined });
    expect(readPlanFile(relative).model).toBe(join(dir, 'sub/m.gguf'));
  });

  it('a bad file is an InvalidRequestError naming the flag, the file and the field', () => {
    const good = { model: 'm.gguf', tensorParallel: 1, pipelineParallel: 1, parallelTransport: 'shared-memory', threads: 2, maxNumSeqs: 4, kvCacheType: 'f16' };
    const cases: [string, unknown, RegExp][] = [
      ['notjson.json', '{ model: ', /--plan \S+notjson\.json: is not JSON/],
      ['tp.json', { ...good, tensorParallel: 0 }, /tp\.json: 'tensorParallel': Too small/],
      ['kv.json', { ...good, kvCacheType: 'q4' }, /kv\.json: 'kvCacheType': Invalid option/],
      ['transport.json', { ...good, parallelTransport: 'tcp' }, /'parallelTransport': Invalid option/],
      ['missing.json', { ...good, threads: undefined }, /missing\.json: 'threads': is required/],
      ['extra.json', { ...good, thread: 2 }, /extra\.json: Unrecognized key: "thread"/],
    ];
    for (const [name, body, message] of cases) expect(() => readPlanFile(planAt(name, body)), name).toThrow(message);
    expect(() => readPlanFile(join(dir, 'absent.json'))).toThrow(/--plan \S+absent\.json: file not found/);
  });
});
