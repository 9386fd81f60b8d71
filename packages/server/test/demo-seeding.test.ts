import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_TRACKS } from '@mixtape/core';
import { openSqliteDatabase } from '@mixtape/core/sqlite';
import { ensureBuilt, killAll, printedUrl, runCli, startCli, type CliProcess } from './support/cli-process.js';

/** MIXTAPE_DEMO decides whether the demo catalog is seeded, and only `mixtape serve` seeds it. */

const processes: CliProcess[] = [];
let root: string;

beforeAll(() => {
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), 'mixtape-demo-'));
}, 180_000);

afterAll(() => {
  killAll(processes);
  rmSync(root, { recursive: true, force: true });
});

function tracksIn(dataDir: string): number {
  const db = openSqliteDatabase(join(dataDir, 'mixtape.db'), { readOnly: true });
  try {
    return db.prepare('SELECT count(*) FROM tracks').pluck().get() as number;
  } finally {
    db.close();
  }
}

/** Starts a long-running command, waits until it listens, stops it with SIGTERM; returns its data dir. */
async function runUntilListening(command: 'serve' | 'worker', env: Record<string, string> = {}): Promise<string> {
  const dataDir = join(root, `${command}-${randomBytes(4).toString('hex')}`);
  const started = startCli([command], { MIXTAPE_DATA_DIR: dataDir, MIXTAPE_PORT: '0', ...env });
  processes.push(started);
  await printedUrl(started, command === 'serve' ? 'Mixtape is listening on' : 'Mixtape worker is listening on');
  started.child.kill('SIGTERM');
  expect(await started.exited).toEqual([0, null]);
  return dataDir;
}

describe('the demo catalog', () => {
  it('is seeded by mixtape serve with the default MIXTAPE_DEMO=auto and nothing configured', async () => {
    expect(tracksIn(await runUntilListening('serve'))).toBe(DEMO_TRACKS.length);
  });

  it('is never seeded by mixtape worker, migrate or reconcile', async () => {
    expect(tracksIn(await runUntilListening('worker'))).toBe(0);
    for (const command of ['migrate', 'reconcile']) {
      const dataDir = join(root, command);
      const run = runCli([command], { MIXTAPE_DATA_DIR: dataDir });
      expect(run.status, run.stderr).toBe(0);
      expect(tracksIn(dataDir), command).toBe(0);
    }
  });

  it('is not seeded by mixtape serve with MIXTAPE_DEMO=off, nor by auto once an origin is configured', async () => {
    expect(tracksIn(await runUntilListening('serve', { MIXTAPE_DEMO: 'off' }))).toBe(0);
    expect(tracksIn(await runUntilListening('serve', { MIXTAPE_SOURCE_URL: 'http://127.0.0.1:9/audio/{id}' }))).toBe(0);
  });

  it('is seeded with MIXTAPE_DEMO=on even when an origin is configured', async () => {
    const dataDir = await runUntilListening('serve', { MIXTAPE_DEMO: 'on', MIXTAPE_SOURCE_URL: 'http://127.0.0.1:9/audio/{id}' });
    expect(tracksIn(dataDir)).toBe(DEMO_TRACKS.length);
  });
});
