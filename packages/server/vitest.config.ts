import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Output under test is plain text: nx passes FORCE_COLOR to its tasks.
    env: { FORCE_COLOR: '0' },
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 30_000,
  },
});
