import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts'],
    testTimeout: 60_000,
    // Hooks start real servers, PostgreSQL clusters and token stores; on a loaded 2-core CI
    // machine that takes longer than vitest's default 10 s.
    hookTimeout: 60_000,
    pool: 'forks',
  },
});
