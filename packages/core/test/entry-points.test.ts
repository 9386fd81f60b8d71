import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

/**
 * `@mixtape/core` holds no backend: a program on other backends (or none) must load it without
 * better-sqlite3 installed. The SQLite adapters live behind `@mixtape/core/sqlite`.
 */

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const CORE = join(ROOT, 'packages', 'core');
const DIST = join(CORE, 'dist');

/** The value-importing specifiers of a module: `import type` and `export type` are erased. */
function runtimeImports(source: string): string[] {
  const specifiers: string[] = [];
  for (const match of source.matchAll(/^(?:import|export)\s+(type\s+)?(?:[^'";]*?\sfrom\s+)?'([^']+)'/gms)) {
    if (match[1] === undefined) specifiers.push(match[2]!);
  }
  return specifiers;
}

/** Every module the entry loads at run time, followed through relative imports. */
function moduleGraph(entry: string): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  const pending = [entry];
  for (let file = pending.pop(); file !== undefined; file = pending.pop()) {
    if (graph.has(file)) continue;
    const imports = runtimeImports(readFileSync(file, 'utf8'));
    graph.set(file, imports);
    for (const specifier of imports) {
      if (!specifier.startsWith('.') || specifier.endsWith('.sql') || specifier.endsWith('.lua')) continue;
      pending.push(resolve(dirname(file), specifier.replace(/\.js$/, '.ts')));
    }
  }
  return graph;
}

/** Runs `code` in a child Node whose resolver cannot find better-sqlite3, as where it is not installed. */
function withoutBetterSqlite3(code: string) {
  const hooks = `export async function resolve(specifier, context, next) {
    if (specifier === 'better-sqlite3' || specifier.startsWith('better-sqlite3/')) {
      throw Object.assign(new Error("Cannot find package 'better-sqlite3'"), { code: 'ERR_MODULE_NOT_FOUND' });
    }
    return next(specifier, context);
  }`;
  const register = `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hooks)}`)});`;
  return spawnSync(
    process.execPath,
    ['--import', `data:text/javascript,${encodeURIComponent(register)}`, '--input-type=module', '-e', code],
    { cwd: ROOT, encoding: 'utf8', timeout: 20_000 },
  );
}

/** The modules reachable from a core entry that import `driver` (or one of its subpaths). */
function importers(entry: string, driver: string): string[] {
  return [...moduleGraph(join(CORE, 'src', entry))].filter(([, imports]) => imports.some((s) => s === driver || s.startsWith(`${driver}/`))).map(([file]) => file);
}

describe('the entry points of @mixtape/core', () => {
  beforeAll(() => {
    // `npm test` builds first; a bare `vitest run` on a fresh clone may not have.
    if (existsSync(join(DIST, 'index.js')) && existsSync(join(DIST, 'sqlite.js'))) return;
    const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'workspace.mjs'), 'build'], { cwd: ROOT, encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
  }, 180_000);

  it('the main entry reaches no module that imports better-sqlite3; the sqlite entry does', () => {
    const importers = (entry: string) =>
      [...moduleGraph(join(CORE, 'src', entry))].filter(([, imports]) => imports.includes('better-sqlite3')).map(([file]) => file);
    expect(importers('index.ts')).toEqual([]);
    expect(importers('sqlite.ts').length).toBeGreaterThan(0);
  });

  it('the main and sqlite entries reach no module that imports mysql2; the mysql entry reaches no better-sqlite3', () => {
    expect(importers('index.ts', 'mysql2')).toEqual([]);
    expect(importers('sqlite.ts', 'mysql2')).toEqual([]);
    expect(importers('mysql.ts', 'mysql2').length).toBeGreaterThan(0);
    expect(importers('mysql.ts', 'better-sqlite3')).toEqual([]);
  });

  it('only the redis entry reaches ioredis and rate-limit-redis', () => {
    for (const entry of ['index.ts', 'sqlite.ts', 'mysql.ts']) {
      expect(importers(entry, 'ioredis')).toEqual([]);
      expect(importers(entry, 'rate-limit-redis')).toEqual([]);
    }
    expect(importers('redis.ts', 'ioredis').length).toBeGreaterThan(0);
    expect(importers('redis.ts', 'rate-limit-redis').length).toBeGreaterThan(0);
    expect(importers('redis.ts', 'mysql2')).toEqual([]);
    expect(importers('redis.ts', 'better-sqlite3')).toEqual([]);
  });

  it('only the elasticsearch entry reaches @elastic/elasticsearch, and no database driver', () => {
    for (const entry of ['index.ts', 'sqlite.ts', 'mysql.ts', 'redis.ts']) expect(importers(entry, '@elastic/elasticsearch')).toEqual([]);
    expect(importers('elasticsearch.ts', '@elastic/elasticsearch').length).toBeGreaterThan(0);
    for (const driver of ['mysql2', 'better-sqlite3', 'ioredis']) expect(importers('elasticsearch.ts', driver)).toEqual([]);
  });

  it('the built main entry loads where better-sqlite3 cannot be resolved, and the sqlite entry needs it', () => {
    const index = pathToFileURL(join(DIST, 'index.js')).href;
    const sqlite = pathToFileURL(join(DIST, 'sqlite.js')).href;
    const main = withoutBetterSqlite3(`const core = await import(${JSON.stringify(index)}); console.log(typeof core.createMixtape);`);
    expect(main.stderr).toBe('');
    expect(main.stdout.trim()).toBe('function');
    expect(main.status).toBe(0);

    const backend = withoutBetterSqlite3(`await import(${JSON.stringify(sqlite)});`);
    expect(backend.status).not.toBe(0);
    expect(backend.stderr).toMatch(/Cannot find package 'better-sqlite3'/);
  });

  it('package.json exports both, with better-sqlite3 an optional peer dependency', () => {
    const manifest = JSON.parse(readFileSync(join(CORE, 'package.json'), 'utf8'));
    expect(manifest.exports['./sqlite']).toEqual({ types: './dist/sqlite.d.ts', import: './dist/sqlite.js' });
    expect(manifest.dependencies?.['better-sqlite3']).toBeUndefined();
    expect(manifest.peerDependencies['better-sqlite3']).toBeDefined();
    expect(manifest.peerDependenciesMeta['better-sqlite3']).toEqual({ optional: true });
    expect(manifest.exports['./redis']).toEqual({ types: './dist/redis.d.ts', import: './dist/redis.js' });
    expect(manifest.exports['./elasticsearch']).toEqual({ types: './dist/elasticsearch.d.ts', import: './dist/elasticsearch.js' });
    for (const peer of ['ioredis', 'rate-limit-redis', '@elastic/elasticsearch']) {
      expect(manifest.dependencies?.[peer]).toBeUndefined();
      expect(manifest.peerDependenciesMeta[peer]).toEqual({ optional: true });
    }
  });
});
