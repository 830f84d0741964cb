import { defineConfig } from 'vitest/config';

// End-to-end tests: each file builds its own lab (network namespaces) and removes it.
export default defineConfig({
  test: {
    // Output under test is plain text: nx passes FORCE_COLOR to its tasks.
    env: { FORCE_COLOR: '0' },
    include: ['**/*.test.ts'],
    exclude: ['**/node_modules/**'],
    testTimeout: 240_000,
    hookTimeout: 240_000,
    fileParallelism: true,
    maxWorkers: 2,
    minWorkers: 1,
  },
});
