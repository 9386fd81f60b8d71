import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const CLI = join(ROOT, 'packages', 'server', 'dist', 'cli.js');
/** sysexits(3), as the CLI uses them. */
export const EXIT = { usage: 64, software: 70, config: 78 } as const;

/** `npm test` builds first; a bare `vitest run` on a fresh clone may not have. */
export function ensureBuiltCli(): void {
  if (existsSync(CLI)) return;
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'workspace.mjs'), 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
}

/** Only what the test gives: nothing of this process's MIXTAPE_* variables leaks in. */
export function cliEnvironment(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, MIXTAPE_LOG_LEVEL: 'warn', ...env };
}

/** Runs the built `mixtape` command to its end (bounded, so a hang fails the test). */
export function runCli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: cliEnvironment(env), encoding: 'utf8', timeout: 20_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}
