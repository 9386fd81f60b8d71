#!/usr/bin/env node
// The root commands: `npm start`, `npm test`, `npm run mixtape -- <command>`, `npm run build`.
// Each installs what is missing and builds what is stale first, so they work on a fresh clone
// with nothing but Node.js 20+ and npm.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const PNPM_VERSION = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];
const PACKAGES = ['core', 'client', 'server']; // in build order

function run(command, args, options = {}) {
  const result = spawnSync(command, args, { cwd: root, stdio: 'inherit', ...options });
  if (result.error) throw result.error;
  return result.status ?? 1;
}

/** pnpm on the PATH if it is the pinned major version, else the pinned version through npx. */
function pnpm(args) {
  const local = spawnSync('pnpm', ['--version'], { encoding: 'utf8' });
  const major = PNPM_VERSION.split('.')[0];
  if (local.status === 0 && local.stdout.trim().split('.')[0] === major) return run('pnpm', args);
  return run('npx', ['-y', `pnpm@${PNPM_VERSION}`, ...args]);
}

function newestMtime(path) {
  if (!existsSync(path)) return 0;
  const stats = statSync(path);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return readdirSync(path).reduce((newest, name) => Math.max(newest, newestMtime(join(path, name))), stats.mtimeMs);
}

function ensureInstalled() {
  const marker = join(root, 'node_modules', '.modules.yaml');
  const examples = [...readdirSync(join(root, 'examples')).map((e) => `examples/${e}/package.json`), 'benchmarks/package.json'];
  const manifests = ['package.json', 'pnpm-lock.yaml', 'pnpm-workspace.yaml', ...PACKAGES.map((p) => `packages/${p}/package.json`), ...examples];
  const installedAt = existsSync(marker) ? statSync(marker).mtimeMs : 0;
  if (manifests.every((m) => newestMtime(join(root, m)) <= installedAt)) return;
  console.error('mixtape: installing dependencies…');
  const status = pnpm(['install', '--frozen-lockfile']);
  if (status !== 0) throw new Error(`pnpm install failed with status ${status}`);
}

function ensureBuilt() {
  for (const name of PACKAGES) {
    const dir = join(root, 'packages', name);
    const built = newestMtime(join(dir, 'dist'));
    const sources = Math.max(newestMtime(join(dir, 'src')), newestMtime(join(dir, 'tsup.config.ts')), newestMtime(join(dir, 'package.json')));
    if (built > sources) continue;
    console.error(`mixtape: building @mixtape/${name}…`);
    const status = run(process.execPath, [join(root, 'node_modules', 'tsup', 'dist', 'cli-default.js')], { cwd: dir });
    if (status !== 0) throw new Error(`building @mixtape/${name} failed`);
  }
}

/** Runs the CLI, passing signals on so that a Ctrl-C shuts the server down gracefully. */
function mixtape(args) {
  const child = spawn(process.execPath, [join(root, 'packages', 'server', 'dist', 'cli.js'), ...args], { cwd: root, stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

/** Every TypeScript project: the packages, the client's tests (with Node types) and the examples. */
function typecheck() {
  const projects = [
    ...PACKAGES.map((name) => `packages/${name}`),
    'packages/client/tsconfig.test.json',
    ...readdirSync(join(root, 'examples')).map((name) => `examples/${name}`),
  ];
  let failed = 0;
  for (const project of projects) {
    if (run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '-p', project]) !== 0) failed += 1;
  }
  return failed;
}

function test(args) {
  // Type errors fail the run like a failing test, and count as one each project.
  const typeFailures = typecheck();
  mkdirSync(join(root, '.cache'), { recursive: true });
  const report = join(root, '.cache', 'vitest-report.json');
  // An earlier run's report must not be read as this one's when Vitest fails before writing.
  rmSync(report, { force: true });
  const status = run(process.execPath, [
    join(root, 'node_modules', 'vitest', 'vitest.mjs'),
    'run',
    '--reporter=default',
    '--reporter=json',
    `--outputFile.json=${report}`,
    ...args,
  ]);
  let passed = 0;
  let failed = status === 0 ? 0 : 1;
  if (existsSync(report)) {
    const results = JSON.parse(readFileSync(report, 'utf8'));
    passed = results.numPassedTests;
    // A file that failed to load counts as one failure even though none of its tests ran.
    const brokenFiles = results.testResults.filter((f) => f.status === 'failed' && f.assertionResults.length === 0).length;
    failed = results.numFailedTests + brokenFiles;
    // Vitest failed yet no test did: an error outside the tests, such as a global setup that
    // could not start Elasticsearch, fails the run as one failure.
    if (status !== 0 && failed === 0) failed = 1;
  }
  failed += typeFailures;
  console.log(`${passed} passed, ${failed} failed`);
  return status !== 0 ? status : typeFailures > 0 ? 1 : 0;
}

const [command, ...args] = process.argv.slice(2);
try {
  ensureInstalled();
  switch (command) {
    case 'build':
      ensureBuilt();
      break;
    case 'typecheck':
      process.exitCode = typecheck();
      break;
    case 'start':
      ensureBuilt();
      mixtape(['serve', ...args]);
      break;
    case 'mixtape':
      ensureBuilt();
      mixtape(args);
      break;
    case 'bench':
      ensureBuilt();
      process.exitCode = run(process.execPath, ['--expose-gc', join(root, 'benchmarks', 'run.mjs'), ...args]);
      break;
    case 'test':
      ensureBuilt();
      process.exitCode = test(args);
      break;
    default:
      console.error('usage: node scripts/workspace.mjs build|typecheck|start|mixtape|test|bench');
      process.exitCode = 64;
  }
} catch (error) {
  console.error(`mixtape: ${error.message}`);
  if (command === 'test') console.log('0 passed, 1 failed');
  process.exitCode = 1;
}
