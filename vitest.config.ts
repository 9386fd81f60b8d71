import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vitest/config';

const source = (path: string) => fileURLToPath(new URL(path, import.meta.url));

/** SQL and Lua files are imported as text, as tsup bundles them. */
const sqlAsText: Plugin = {
  name: 'sql-as-text',
  transform(code, id) {
    return id.endsWith('.sql') || id.endsWith('.lua') ? { code: `export default ${JSON.stringify(code)};`, map: null } : undefined;
  },
};

export default defineConfig({
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
    include: ['packages/*/test/**/*.test.ts', 'examples/**/*.test.ts'],
    pool: 'forks',
    // One redis-server and one Elasticsearch for every file; a test that kills or pauses Redis
    // starts its own.
    globalSetup: ['packages/core/test/redis/shared-redis.ts', 'packages/core/test/elasticsearch/shared-elasticsearch.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    allowOnly: false,
  },
});
