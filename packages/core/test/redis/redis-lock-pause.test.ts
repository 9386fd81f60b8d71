import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_TRACKS, HttpTrackSource } from '../../src/index.js';
import { RedisConnection } from '../../src/redis/redis-connection.js';
import { openSqliteBackends, type SqliteBackends } from '../../src/sqlite.js';
import { bundleChildProgram, type ChildProgram } from '../sqlite/child-processes.js';
import { startChild, type LiveChild } from '../sqlite/live-child.js';
import { startOrigin, type TestOrigin } from '../support/origin.js';
import { sharedRedisUrl, uniqueRedisPrefix } from './shared-redis.js';

const track = DEMO_TRACKS[0]!;
const USER = 'user-u';
const CHUNK = 32 * 1024;
const CHUNKS = 16;
/** The job lease, and so the track lock's TTL in Redis. */
const LEASE_MS = 1500;

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** Random bytes behind an ID3 tag, so that they are stored as audio/mpeg. */
function mp3(size: number): Buffer {
  const bytes = randomBytes(size);
  bytes.write('ID3', 0, 'latin1');
  return bytes;
}

/**
 * An origin that sends the track slowly (16 chunks of 32 KiB, 50 ms apart). The first request
 * gets other bytes of the same length than every later one, so that a copy written by the
 * paused process would be a second file and a second hash, not the same one written twice.
 */
class SlowOrigin {
  readonly stale = mp3(CHUNKS * CHUNK);
  readonly body = mp3(CHUNKS * CHUNK);
  /** Bytes sent, per request. */
  readonly sent: number[] = [];
  #origin!: TestOrigin;
  url = '';

  async start(): Promise<void> {
    this.#origin = await startOrigin((_req, res) => {
      const request = this.sent.push(0) - 1;
      const bytes = request === 0 ? this.stale : this.body;
      res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': bytes.length });
      const next = () => {
        if (res.destroyed) return;
        const from = this.sent[request]!;
        res.write(bytes.subarray(from, from + CHUNK));
        this.sent[request] = from + CHUNK;
        if (this.sent[request]! >= bytes.length) res.end();
        else setTimeout(next, 50);
      };
      next();
    });
    this.url = this.#origin.url;
  }

  stop(): Promise<void> {
    return this.#origin.stop();
  }
}

/** A child's lines, all kept, read up to the first that matches. */
class Transcript {
  readonly lines: Record<string, unknown>[] = [];
  #read = 0;

  constructor(private readonly child: LiveChild) {}

  async until(match: (line: Record<string, unknown>) => boolean, what: string, timeoutMs = 15_000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      for (; this.#read < this.lines.length; this.#read += 1) {
        const line = this.lines[this.#read]!;
        if (match(line)) {
          this.#read += 1;
          return line;
        }
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`Timed out waiting for ${what}; saw ${JSON.stringify(this.lines)}; stderr: ${this.child.stderr()}`);
      const line = await Promise.race([this.child.nextLine(), sleep(left).then(() => undefined)]);
      if (line !== undefined) this.lines.push(line as Record<string, unknown>);
    }
  }
}

/** Resolves once the process is in the stopped state ('T' in /proc/<pid>/stat): a signal lands a moment after it is sent. */
async function stopped(child: LiveChild): Promise<void> {
  const state = () => readFileSync(`/proc/${child.process.pid}/stat`, 'latin1').split(') ')[1]![0];
  const deadline = Date.now() + 2000;
  while (state() !== 'T') {
    if (Date.now() > deadline) throw new Error(`The process did not stop; it is ${state()}`);
    await sleep(5);
  }
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => join(entry.parentPath, entry.name));
}

/**
 * Two Mixtape processes on one data dir and one Redis, the track's lock in Redis and fenced by
 * the database: the holder is paused (SIGSTOP) past its lock's TTL while the other process
 * downloads the same track for the same user, then resumed. Issue #8 asks for this.
 */
describe('a lock holder paused past its TTL, with locks in Redis', () => {
  let program: ChildProgram;
  let origin: SlowOrigin;
  let dataDir: string;
  let prefix: string;
  let backends: SqliteBackends;
  let redis: RedisConnection;
  const children: LiveChild[] = [];

  beforeAll(async () => {
    // Every package stays outside the bundle: ioredis and others are CommonJS.
    program = await bundleChildProgram('../redis/redis-mixtape-child.ts', { external: [/^[^./]/] });
  }, 60_000);
  afterAll(() => program?.remove());

  beforeEach(async () => {
    origin = new SlowOrigin();
    await origin.start();
    dataDir = mkdtempSync(join(tmpdir(), 'mixtape-redis-pause-'));
    prefix = uniqueRedisPrefix();
    // Migrated here, so that the two processes open a database that exists.
    backends = await openSqliteBackends({ dataDir, source: new HttpTrackSource({ urlTemplate: origin.url }) });
    redis = new RedisConnection({ url: sharedRedisUrl(), prefix });
    await redis.waitUntilReady();
  });

  afterEach(async () => {
    for (const child of children.splice(0)) {
      child.process.kill('SIGCONT');
      child.process.kill('SIGKILL');
    }
    await redis.close();
    await backends.close();
    await origin.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  const startMixtape = async (...extra: string[]) => {
    const child = startChild(program.path, [dataDir, origin.url, sharedRedisUrl(), prefix, USER, track.id, String(LEASE_MS), ...extra]);
    children.push(child);
    const transcript = new Transcript(child);
    await transcript.until((line) => line.ready === true, 'the process to start');
    return { child, transcript };
  };

  /**
   * A downloads the track for U and is stopped: `mid-fetch` by the test (SIGSTOP) with a few
   * chunks received, `before-commit` by itself the moment it holds the content key, its
   * fetch done and its first fenced write next. B then downloads the same track for U; A is
   * resumed once B is done.
   */
  async function pauseWhileAnotherFinishes(pause: 'mid-fetch' | 'before-commit') {
    const lockKey = `track:${track.id}`;
    const redisKey = `${prefix}lock:${lockKey}`;
    const a = await startMixtape(...(pause === 'before-commit' ? ['pause-at-content-lock'] : []));
    const startedAt = performance.now();
    const at = () => Math.round(performance.now() - startedAt);
    a.child.send('request');
    const { job } = (await a.transcript.until((line) => 'job' in line, "A's job")) as { job: string };
    const { token: tokenA } = (await a.transcript.until((line) => line.lock === lockKey, 'A to take the track lock')) as { token: number };
    if (pause === 'mid-fetch') {
      // A is fetching: a few chunks of the (stale) bytes have gone out to it.
      while ((origin.sent[0] ?? 0) < 4 * CHUNK) await sleep(5);
      // Between two chunks, not as one arrives: a stop inside A's (synchronous) SQLite write
      // would hold the database's write lock from B, which is SQLite's hazard, not the lock's.
      await sleep(25);
      a.child.process.kill('SIGSTOP');
    } else {
      await a.transcript.until((line) => 'pausing' in line, 'A to stop itself at the content key');
      expect(origin.sent[0]).toBe(origin.stale.length);
    }
    const stoppedAt = at();
    await stopped(a.child);
    expect(await redis.call('GET', redisKey)).toEqual(expect.any(String));
    expect(await backends.fencing.current(lockKey)).toBe(tokenA);

    // B asks for the same track for the same user: the job under way is the one it gets.
    const b = await startMixtape();
    b.child.send('request');
    expect(await b.transcript.until((line) => 'job' in line, "B's job")).toEqual({ job });
    const { token: tokenB } = (await b.transcript.until((line) => line.lock === lockKey, 'B to take the track lock')) as { token: number };
    const bLockedAt = at();
    const bDone = await b.transcript.until((line) => line.event === 'completed' || line.event === 'failed', "B's attempt to end");
    const bDoneAt = at();
    expect(bDone).toEqual({ event: 'completed', jobId: job, outcome: 'completed' });
    expect(tokenB).toBeGreaterThan(tokenA);
    // A's key ran out (renewed every third of the TTL) before B could take it.
    expect(bLockedAt - stoppedAt).toBeGreaterThanOrEqual((2 * LEASE_MS) / 3 - 100);

    a.child.process.kill('SIGCONT');
    const resumedAt = at();
    const aEnd = await a.transcript.until((line) => 'event' in line && line.event !== 'error', "A's attempt to end");
    const aEndedAt = at();
    // Give a late write of A's every chance to land before counting.
    await sleep(300);

    const stored = filesUnder(join(dataDir, 'audio', 'blobs'));
    const temps = filesUnder(join(dataDir, 'audio', 'tmp'));
    const catalogTrack = await backends.catalog.get(track.id);
    const count = (sql: string) => backends.db.prepare(sql).pluck().get() as number;
    const seen = {
      pause,
      stoppedAt,
      bLockedAt,
      bDoneAt,
      resumedAt,
      aEndedAt,
      tokens: { a: tokenA, b: tokenB, current: await backends.fencing.current(lockKey) },
      aEnd,
      aLines: a.transcript.lines.filter((line) => !('ready' in line)),
      bLines: b.transcript.lines.filter((line) => !('ready' in line)),
      fetches: origin.sent.length,
    };
    console.log(`fencing test saw: ${JSON.stringify(seen)}`);

    // One stored copy, of the bytes B fetched, and one row for it and for the track.
    expect(stored).toHaveLength(1);
    expect(sha256(readFileSync(stored[0]!))).toBe(sha256(origin.body));
    expect(catalogTrack?.audio).toEqual({ blobKey: sha256(origin.body), sizeBytes: origin.body.length, contentType: 'audio/mpeg' });
    expect(count('SELECT count(*) FROM blobs')).toBe(1);
    expect(count('SELECT count(*) FROM tracks WHERE blob_key IS NOT NULL')).toBe(1);
    // A's draft is gone with its attempt.
    expect(temps).toEqual([]);
    // One library entry for U, charged once.
    const library = await backends.library.list(USER, { limit: 10, offset: 0 });
    expect(library.total).toBe(1);
    expect(library.items[0]).toMatchObject({ userId: USER, trackId: track.id, sizeBytes: origin.body.length });
    expect(await backends.library.usage(USER)).toEqual({ committedBytes: origin.body.length, reservedBytes: 0 });
    // The job completed once, by B; A's attempt ended without completing it.
    expect(await backends.queue.get(job)).toMatchObject({ status: 'completed', attempts: 2 });
    expect(aEnd).toEqual({ event: 'lease-lost', jobId: job });
    expect(seen.tokens.current).toBe(tokenB);
    expect(origin.sent).toHaveLength(2);
    // Nothing is left in Redis: B released its keys, A's ran out or were let go.
    expect(await redis.call('KEYS', `${prefix}*`)).toEqual([]);

    a.child.send('exit');
    b.child.send('exit');
    expect((await a.child.exited).code).toBe(0);
    expect((await b.child.exited).code).toBe(0);
    return seen;
  }

  it('stopped mid-fetch: one stored copy, the right bytes, one library entry, the quota charged once; A’s lease and lock are refused', async () => {
    const seen = await pauseWhileAnotherFinishes('mid-fetch');
    // Woken, A learns at its first renewals that the lease and the lock are gone, and writes nothing fenced.
    expect(seen.aLines).toContainEqual({ lost: `track:${track.id}`, code: 'ERR_LOCK_LOST' });
    expect(seen.aLines.some((line) => line.refused === 'queue.renew' || line.refused === 'queue.reportProgress')).toBe(true);
    expect(seen.aLines.filter((line) => typeof line.lock === 'string' && line.lock.startsWith('blob:'))).toEqual([]);
  });

  it('stopped right before its first fenced write: the database refuses that write with the stale token when A wakes', async () => {
    const seen = await pauseWhileAnotherFinishes('before-commit');
    // The first thing A does on waking is the ledger write, fenced by its stale track token: refused.
    const refused = seen.aLines.filter((line) => 'refused' in line);
    expect(refused[0]).toEqual({ refused: 'blobLedger.record', code: 'ERR_LOCK_LOST' });
    expect(refused.some((line) => line.refused === 'catalog.attachAudio' || line.refused === 'library.add')).toBe(false);
  });
});
