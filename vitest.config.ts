import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // native addons (ours and node-llama-cpp) are safest in child processes
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
