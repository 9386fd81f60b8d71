/**
 * A Mixtape process on a shared data dir whose locks are in Redis, as an instance with
 * `MIXTAPE_REDIS_URL` set would have them: `node redis-mixtape-child.mjs <data dir> <origin url
 * template> <redis url> <redis prefix> <user id> <track id> <lease ms> [pause-at-content-lock]`.
 * The lock manager is a RedisLockManager fenced by the database (`backends.fencing`); the job
 * lease, and so the track lock's TTL, is `<lease ms>`. One in-process worker. With
 * `pause-at-content-lock`, the process stops itself (SIGSTOP, printing `{"pausing": key}`) the
 * first time it holds a content key (`blob:<sha256>`): right before its first fenced write of
 * a download, where a pause hurts most, until the test sends SIGCONT.
 *
 * It prints `{"ready": true}` once started, then one line per worker event
 * (`{"event": type, "jobId", "outcome"?, "error"?}`), per lock taken (`{"lock": key, "token"}`)
 * and lost (`{"lost": key, "code"}`), and per write the stores refused (`{"refused":
 * "catalog.attachAudio", "code"}`; the queue refuses a stale lease with false, null or
 * `lease-lost`, printed with code `lease`). On `request` (stdin) it asks for the track's
 * download for the user and prints `{"job": id}`; on `exit` it closes and exits.
 */
import { createInterface } from 'node:readline';
import { openSqliteBackends } from '../../src/embedded/sqlite-backends.js';
import type { LockManager } from '../../src/locks/lock-manager.js';
import { RedisLockManager } from '../../src/locks/redis-lock-manager.js';
import { createMixtape } from '../../src/mixtape.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { HttpTrackSource } from '../../src/sources/http-track-source.js';
import { processSettings } from '../support/process-settings.js';

const [dataDir, urlTemplate, redisUrl, prefix, userId, trackId, leaseMs, pauseAt] = process.argv.slice(2) as [string, string, string, string, string, string, string, string?];
let pauseAtContentLock = pauseAt === 'pause-at-content-lock';
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

/** The lock manager, telling each acquisition and each loss. */
function told(locks: LockManager): LockManager {
  return {
    backend: locks.backend,
    using: (keys, work, options) =>
      locks.using(
        keys,
        (lock) => {
          print({ lock: keys.join(','), token: lock.fencingToken });
          if (pauseAtContentLock && keys[0]!.startsWith('blob:')) {
            pauseAtContentLock = false;
            print({ pausing: keys[0] });
            // Synchronous: nothing of this process runs until SIGCONT, and then this work goes on first.
            process.kill(process.pid, 'SIGSTOP');
          }
          lock.signal.addEventListener('abort', () => print({ lost: keys.join(','), code: (lock.signal.reason as { code?: string }).code }), { once: true });
          return work(lock);
        },
        options,
      ),
  };
}

/** The queue's writes that only the lease's holder may make. */
const LEASED = new Set(['renew', 'reportProgress', 'complete', 'fail', 'release', 'reserve', 'holdsLease']);

/** The store, telling each write it refused: a thrown ERR_LOCK_LOST, or the queue's answer for a stale lease. */
function refusals<T extends object>(name: string, store: T): T {
  return new Proxy(store, {
    get(target, property) {
      // Read and called on the store itself: its private fields are not the proxy's.
      const value = Reflect.get(target, property) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        const result = (value as (...a: unknown[]) => unknown).apply(target, args);
        if (!(result instanceof Promise)) return result;
        return result.then(
          (answer: unknown) => {
            const stale = answer === false || (answer === null && property === 'fail') || (answer as { kind?: string } | null)?.kind === 'lease-lost';
            if (name === 'queue' && stale && LEASED.has(String(property))) print({ refused: `queue.${String(property)}`, code: 'lease' });
            return answer;
          },
          (error: { code?: string }) => {
            if (error?.code === 'ERR_LOCK_LOST') print({ refused: `${name}.${String(property)}`, code: error.code });
            throw error;
          },
        );
      };
    },
  });
}

async function main(): Promise<void> {
  const connection = new RedisConnection({ url: redisUrl, prefix });
  await connection.waitUntilReady(5000);
  const opened = await openSqliteBackends({ dataDir, source: new HttpTrackSource({ urlTemplate }) });
  const backends = {
    ...opened,
    locks: told(new RedisLockManager(connection, opened.fencing)),
    catalog: refusals('catalog', opened.catalog),
    library: refusals('library', opened.library),
    blobLedger: refusals('blobLedger', opened.blobLedger),
    queue: refusals('queue', opened.queue),
    async close() {
      await opened.close();
      await connection.close();
    },
  };
  const mixtape = createMixtape(
    backends,
    {
      ...processSettings(Number(leaseMs)),
      shutdownGraceMs: 100,
      // A paused process's hold on a chore must not outlast the test.
      housekeeping: { leaseTtlMs: 2000 },
    },
    {
      onWorkerEvent(event) {
        if (event.type === 'error') {
          print({ event: 'error', message: event.error instanceof Error ? event.error.message : String(event.error) });
          return;
        }
        print({
          event: event.type,
          jobId: event.job.id,
          ...(event.type === 'completed' ? { outcome: event.outcome } : {}),
          ...('error' in event ? { error: event.error.code } : {}),
        });
      },
    },
  );
  mixtape.start();
  print({ ready: true });
  for await (const line of createInterface({ input: process.stdin })) {
    if (line === 'request') print({ job: (await mixtape.downloads.request(userId, trackId)).id });
    if (line === 'exit') break;
  }
  await mixtape.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
