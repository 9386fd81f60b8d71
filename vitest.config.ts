import { fileURLToPath } from 'node:url';
import { configDefaults, defineConfig, type Plugin, type TestProjectInlineConfiguration } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** SQL and Lua files are imported as text, as tsup bundles them. */
const sqlAsText: Plugin = {
  name: 'sql-as-text',
  transform(code, id) {
    return id.endsWith('.sql') || id.endsWith('.lua') ? { code: `export default ${JSON.stringify(code)};`, map: null } : undefined;
  },
};

const SERIAL_FILES = '**/*.serial.test.ts';

/**
 * What both projects share. Not `extends: true`: in Vitest 4 that would inherit the root's
 * globalSetup too, and run it once more per project (a second Redis and Elasticsearch).
 */
const common = {
  plugins: [sqlAsText],
  resolve: {
    // Tests run against the sources, with no build step. A subpath comes before its package,
    // which would otherwise match it first.
    alias: {
      '@mixtape/core/sqlite': source('./packages/core/src/sqlite.ts'),
      '@mixtape/core/mysql': source('./packages/core/src/mysql.ts'),
      '@mixtape/core/redis': source('./packages/core/src/redis.ts'),
      '@mixtape/core/elasticsearch': source('./packages/core/src/elasticsearch.ts'),
      '@mixtape/core': source('./packages/core/src/index.ts'),
      '@mixtape/server': source('./packages/server/src/index.ts'),
      '@mixtape/client': source('./packages/client/src/index.ts'),
    },
  },
  test: {
    pool: 'forks',
    testTimeout: 30_000,
    hookTimeout: 60_000,
    allowOnly: false,
  },
} satisfies TestProjectInlineConfiguration;

export default defineConfig({
  test: {
    // The root's global setup runs once per run and its values reach every project: one
    // redis-server and one Elasticsearch for all. A test that kills or pauses Redis starts its
    // own; one that stops Elasticsearch is a serial file.
    globalSetup: ['packages/core/test/redis/shared-redis.ts', 'packages/core/test/elasticsearch/shared-elasticsearch.ts'],
    projects: [
      {
        ...common,
        test: {
          ...common.test,
          name: 'main',
          include: ['packages/*/test/**/*.test.ts', 'examples/**/*.test.ts'],
          exclude: [...configDefaults.exclude, SERIAL_FILES],
          sequence: { groupOrder: 0 },
        },
      },
      {
        // Files that stop or kill a shared server: one at a time, after every other file.
        ...common,
        test: {
          ...common.test,
          name: 'serial',
          include: ['packages/*/test/**/*.serial.test.ts'],
          fileParallelism: false,
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
