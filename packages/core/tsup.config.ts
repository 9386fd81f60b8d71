import { defineConfig } from 'tsup';

export default defineConfig({
  // One entry point per backend, so that `@mixtape/core` itself never loads a database driver.
  entry: { index: 'src/index.ts', sqlite: 'src/sqlite.ts', mysql: 'src/mysql.ts', redis: 'src/redis.ts', elasticsearch: 'src/elasticsearch.ts' },
  format: ['esm'],
  target: 'node20',
  dts: true,
  sourcemap: true,
  clean: true,
  // SQL and Lua live in their own files and are bundled as text.
  loader: { '.sql': 'text', '.lua': 'text' },
});
