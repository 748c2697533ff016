import { defineConfig } from 'vitest/config';

// one config for vitest and vite-node (the benchmarks): esbuild lowers `using` declarations for Node 20
export default defineConfig({
  esbuild: { target: 'node20' },
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    // native addons (ours and node-llama-cpp) are safest in child processes
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});
