import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { expect, it } from 'vitest';

// The benchmarks (`npm run bench*`) run TypeScript through vite-node, which reads vite.config.ts. Source
// files use `using` declarations, which Node 20 cannot parse: the config must have esbuild lower them
// (without it every benchmark died with "SyntaxError: Unexpected identifier" while vitest passed).
const ROOT = join(import.meta.dirname, '../..');

it('vite-node runs a module with `using` declarations, as the benchmarks import them', () => {
  const result = spawnSync(join(ROOT, 'node_modules/.bin/vite-node'), ['test/bench/fixtures/import-using.ts'], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
  expect(result.stderr).not.toMatch(/SyntaxError/);
  expect(result.stdout).toContain('loaded function object');
  expect(result.status).toBe(0);
});
