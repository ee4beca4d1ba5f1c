import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/helpers/fast-check-setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Vitest's default is one worker less than the cores: a single worker on the 2-core CI machines,
    // where the suite then took 11 of .ci/run's 13 minutes (budget 15). Two workers take about 7.
    maxWorkers: 2,
    reporters: ['default', 'json'],
    outputFile: { json: '.qfs-test-report.json' },
  },
})
