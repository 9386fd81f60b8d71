import { describe, expect, it } from 'vitest';
import { UnavailableError } from '../../src/errors.js';
import { FallbackLockManager, LockBackendUnavailableError } from '../../src/locks/fallback-lock-manager.js';
import { LocalLockManager } from '../../src/locks/local-lock-manager.js';
import type { LockManager } from '../../src/locks/lock-manager.js';
import { observeLockWaits } from '../../src/locks/observed-lock-manager.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('observeLockWaits', () => {
  it('reports how long each caller waited before its work began, by backend', async () => {
    const waits: Array<[number, string]> = [];
    const locks = observeLockWaits(new LocalLockManager(), (seconds, backend) => waits.push([seconds, backend]));
    expect(locks.backend).toBe('local');
    const results = await Promise.all([locks.using(['k'], () => sleep(100).then(() => 'first')), locks.using(['k'], async () => 'second')]);
    expect(results).toEqual(['first', 'second']);
    expect(waits).toHaveLength(2);
    expect(waits.map(([, backend]) => backend)).toEqual(['local', 'local']);
    expect(waits[0]![0]).toBeLessThan(0.05);
    expect(waits[1]![0]).toBeGreaterThanOrEqual(0.08);
    expect(waits[1]![0]).toBeLessThan(1);
  });

  it('reports a wait that timed out, and passes the fencing token through', async () => {
    const waits: number[] = [];
    const locks = observeLockWaits(new LocalLockManager(), (seconds) => waits.push(seconds));
    let release!: () => void;
    const holder = locks.using(['k'], ({ fencingToken }) => new Promise<number>((resolve) => (release = () => resolve(fencingToken))));
    await expect(locks.using(['k'], async () => 'ran', { waitTimeoutMs: 60 })).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
    release();
    expect(await holder).toBe(1);
    expect(waits).toHaveLength(2);
    expect(waits[1]).toBeGreaterThanOrEqual(0.05);
  });

  it('keeps the exclusion of the lock it wraps', async () => {
    const locks = observeLockWaits(new LocalLockManager(), () => undefined);
    let inside = 0;
    let most = 0;
    await Promise.all(
      Array.from({ length: 10 }, () =>
        locks.using(['k'], async () => {
          inside += 1;
          most = Math.max(most, inside);
          await sleep(2);
          inside -= 1;
        }),
      ),
    );
    expect(most).toBe(1);
  });

  it('labels a wait with the backend that served it: the fallback while the primary cannot answer', async () => {
    const waits: string[] = [];
    // A primary whose backend is down, as a RedisLockManager reports it (see redis-lock-manager.test.ts for the real one).
    const down: LockManager = {
      backend: 'redis',
      using: () => Promise.reject(new LockBackendUnavailableError('redis', new UnavailableError('Redis does not answer'))),
    };
    const locks = observeLockWaits(new FallbackLockManager(down, new LocalLockManager()), (_seconds, backend) => waits.push(backend));
    expect(locks.backend).toBe('redis');
    expect(await locks.using(['k'], async ({ backend }) => backend)).toBe('local');
    expect(waits).toEqual(['local']);
  });
});
