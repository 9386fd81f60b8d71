import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The built `mixtape` command: these tests run the real thing, in its own process. */
export const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
/** `MIXTAPE_TEST_CLI` points the tests at another build, e.g. of an older commit, to see them fail there. */
export const CLI = process.env.MIXTAPE_TEST_CLI ?? join(ROOT, 'packages', 'server', 'dist', 'cli.js');

/** `npm test` builds first; a bare `vitest run` on a fresh clone may not have. */
export function ensureBuilt(): void {
  if (existsSync(CLI)) return;
  const built = spawnSync(process.execPath, [join(ROOT, 'scripts', 'workspace.mjs'), 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (built.status !== 0) throw new Error(`build failed: ${built.stderr}`);
}

/** Only what the test gives: nothing of this process's MIXTAPE_* variables leaks in. */
export function cliEnvironment(env: Record<string, string>): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH, HOME: process.env.HOME, MIXTAPE_LOG_LEVEL: 'warn', ...env };
}

/** Runs a command to its end. */
export function runCli(args: string[], env: Record<string, string>) {
  const result = spawnSync(process.execPath, [CLI, ...args], { cwd: ROOT, env: cliEnvironment(env), encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, signal: result.signal, stdout: result.stdout, stderr: result.stderr };
}

export interface CliProcess {
  child: ChildProcessWithoutNullStreams;
  /** What it printed on stdout and stderr so far. */
  output(): string;
  /** Resolves with the exit code and signal. */
  exited: Promise<[number | null, NodeJS.Signals | null]>;
}

/** Starts a long-running command (`serve`, `worker`). */
export function startCli(args: string[], env: Record<string, string>): CliProcess {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: cliEnvironment(env), stdio: 'pipe' });
  let output = '';
  child.stdout.on('data', (chunk) => (output += String(chunk)));
  child.stderr.on('data', (chunk) => (output += String(chunk)));
  const exited = once(child, 'exit') as Promise<[number | null, NodeJS.Signals | null]>;
  return { child, output: () => output, exited };
}

/** Waits until the process prints `<prefix> http://…` and returns that URL (bounded, so a hang fails). */
export async function printedUrl(process_: CliProcess, prefix: string, timeoutMs = 15_000): Promise<string> {
  const pattern = new RegExp(`${prefix} (http://127\\.0\\.0\\.1:\\d+)\\b`);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const url = pattern.exec(process_.output())?.[1];
    if (url) return url;
    if (Date.now() > deadline || process_.child.exitCode !== null) throw new Error(`no "${prefix}" URL printed:\n${process_.output()}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** Kills whatever is still running at the end of a file, so a failed test leaves no process behind. */
export function killAll(processes: CliProcess[]): void {
  for (const { child } of processes) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** Polls until `url` answers `status`, and returns that answer (bounded: a process that never changes fails the test). */
export async function untilStatus(url: string, status: number, timeoutMs = 5000): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const answer = await fetch(url);
    await answer.arrayBuffer();
    if (answer.status === status) return answer;
    if (Date.now() > deadline) throw new Error(`${url} still answers ${answer.status}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
