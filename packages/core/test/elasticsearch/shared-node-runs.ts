import { existsSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isAlive, withPidLock } from '../../../../scripts/pid-lock.mjs';
import { clusterStatus, localElasticsearch, runElasticsearchScript } from './local-elasticsearch.js';

/**
 * The test runs of this checkout that share its Elasticsearch node, as several `npm test`s at
 * once do on one machine. Whichever run finds the node down starts it, and the last run to
 * finish stops it if a test run started it: a run that stopped the node on its way out would
 * fail every run still using it, and two that started it at once would fight over its data
 * folder and pid file. A node started by hand is left running.
 *
 * .cache/elasticsearch-test-runs/<port>/ holds one empty file per run, named by its pid;
 * `started-by-tests` while a node a test run started is up; `lock` while a run starts or stops it.
 */
const folder = join(localElasticsearch.root, '.cache', 'elasticsearch-test-runs', String(localElasticsearch.port));
const runFile = join(folder, String(process.pid));
const startedByTests = join(folder, 'started-by-tests');
const lockFile = join(folder, 'lock');
// A start takes 15-50 s on 2 busy cores; the script itself gives up after 120 s.
const LOCK_WAIT_MS = 180_000;

/** Registers this run, and starts the node unless it answers. */
export async function joinSharedNode(): Promise<void> {
  await mkdir(folder, { recursive: true });
  await writeFile(runFile, '');
  try {
    await withPidLock(lockFile, LOCK_WAIT_MS, async () => {
      if (await startUnlessAnswering()) await writeFile(startedByTests, '');
    });
  } catch (error) {
    await rm(runFile, { force: true });
    throw error;
  }
}

/**
 * Starts the node again after a serial test killed it. Whoever started it first still owns it:
 * one started by hand is left running at the end, as before.
 */
export async function restartSharedNode(): Promise<void> {
  await withPidLock(lockFile, LOCK_WAIT_MS, async () => {
    await startUnlessAnswering();
  });
}

/** Unregisters this run, and stops the node if a test run started it and no other run uses it. */
export async function leaveSharedNode(): Promise<void> {
  await rm(runFile, { force: true });
  await withPidLock(lockFile, LOCK_WAIT_MS, async () => {
    if (!existsSync(startedByTests) || (await otherLiveRuns()) > 0) return;
    await runElasticsearchScript('stop');
    await rm(startedByTests, { force: true });
  });
}

async function startUnlessAnswering(): Promise<boolean> {
  if ((await clusterStatus(localElasticsearch.url)) !== null) return false;
  await runElasticsearchScript('start');
  return true;
}

async function otherLiveRuns(): Promise<number> {
  let live = 0;
  for (const name of await readdir(folder)) {
    if (!/^\d+$/.test(name)) continue;
    // A run that died without its teardown left its file behind.
    if (isAlive(Number(name))) live += 1;
    else await rm(join(folder, name), { force: true });
  }
  return live;
}
