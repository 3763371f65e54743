import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Two cores: end-to-end files render video and run ffmpeg; two files at a time at most.
    maxWorkers: 2,
    pool: 'forks',
  },
});
