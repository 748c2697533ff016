import { availableParallelism } from 'node:os';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // native addons (ours and node-llama-cpp) are safest in child processes
    pool: 'forks',
    // Vitest's default is one worker fewer than the cores: on 2 cores (CI's machine) one test file
    // at a time, while most files compute on one thread (threads: 1) or wait on a child process.
    // Two files at once on 2 cores; the default (cores - 1) above that.
    maxWorkers: Math.max(2, availableParallelism() - 1),
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
