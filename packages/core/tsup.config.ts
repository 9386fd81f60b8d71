import { defineConfig } from 'tsup';

export default defineConfig({
  // One entry point per backend, so that `@mixtape/core` itself never loads a database driver.
  entry: { index: 'src/index.ts', sqlite: 'src/sqlite.ts', mysql: 'src/mysql.ts' },
  format: ['esm'],
  target: 'node20',
  dts: true,
  sourcemap: true,
  clean: true,
  // SQL lives in its own files and is bundled as text.
  loader: { '.sql': 'text' },
});
