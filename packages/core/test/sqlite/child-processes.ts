import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CORE = fileURLToPath(new URL('../../', import.meta.url));

export interface ChildProgram {
  /** Runs the program in a new process and resolves with its exit code and output. */
  run(args: string[]): Promise<ChildResult>;
  /** Removes the bundle. */
  remove(): void;
  /** The bundled program, for a test that drives the process itself (signals, output as it comes). */
  path: string;
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Each line of stdout, parsed as JSON. */
  lines: unknown[];
}

/**
 * A test program from the sources, bundled (TypeScript and `.sql` text, as the build does) so
 * that real child processes can run it: each has its own connection, its own event loop and
 * its own crash, as separate `mixtape` processes sharing a data dir do. The bundle is written
 * under packages/core/node_modules/.cache, so it finds better-sqlite3 like the sources do.
 */
export async function bundleChildProgram(entry: string, options: { external?: (string | RegExp)[] } = {}): Promise<ChildProgram> {
  const { build } = await import('tsup');
  const cache = join(CORE, 'node_modules', '.cache');
  mkdirSync(cache, { recursive: true });
  const outDir = mkdtempSync(join(cache, 'mixtape-child-'));
  await build({
    entry: { program: fileURLToPath(new URL(entry, import.meta.url)) },
    outDir,
    format: ['esm'],
    platform: 'node',
    target: 'node20',
    config: false,
    silent: true,
    dts: false,
    sourcemap: false,
    loader: { '.sql': 'text', '.lua': 'text' },
    // More for programs that load CommonJS packages (jsonwebtoken, prom-client), found from the cache dir.
    external: ['better-sqlite3', ...(options.external ?? [])],
    // No package.json above says "module" once inside node_modules.
    outExtension: () => ({ js: '.mjs' }),
  });
  const program = join(outDir, 'program.mjs');
  return {
    run: (args) =>
      new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [program, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
        child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
        child.on('error', reject);
        child.on('close', (code, signal) => {
          const lines = stdout
            .split('\n')
            .filter((line) => line.trim() !== '')
            .map((line) => JSON.parse(line) as unknown);
          resolve({ code, signal, stdout, stderr, lines });
        });
      }),
    remove: () => rmSync(outDir, { recursive: true, force: true }),
    path: program,
  };
}
