import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LocalLockManager } from '../../src/locks/local-lock-manager.js';
import { MemoryFencingTokens } from '../../src/locks/memory-fencing-tokens.js';
import { describeLockManager } from '../contracts/lock-manager.contract.js';

describeLockManager(
  'local',
  async () => {
    const fencing = new MemoryFencingTokens();
    return { subject: new LocalLockManager({ fencing }), fencing, close: async () => undefined };
  },
  { canLoseLocks: false },
);

describe('LocalLockManager', () => {
  it('forgets a key once no one holds or waits for it', async () => {
    const locks = new LocalLockManager();
    const work = Array.from({ length: 30 }, (_, i) =>
      locks.using([`track:${i % 5}`, `blob:${i % 3}`], async () => {
        await sleep(1);
      }),
    );
    expect(locks.size).toBe(8);
    await Promise.all(work);
    expect(locks.size).toBe(0);

    await expect(locks.using(['failing'], async () => {
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(locks.size).toBe(0);
  });

  it('forgets a key after waiters time out or are aborted', async () => {
    const locks = new LocalLockManager();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const holder = locks.using(['busy'], () => gate);
    const waiters = Array.from({ length: 5 }, () =>
      locks.using(['busy'], async () => 'ran', { waitTimeoutMs: 20 }).catch((error: { code?: string }) => error.code),
    );
    const aborted = locks.using(['other', 'busy'], async () => 'ran', { signal: AbortSignal.timeout(20) }).catch((error: Error) => error.name);
    expect(await Promise.all(waiters)).toEqual(Array(5).fill('ERR_UNAVAILABLE'));
    expect(await aborted).toBe('TimeoutError');
    expect(locks.size).toBe(1);
    release();
    await holder;
    expect(locks.size).toBe(0);
    // The waiters that gave up left nothing behind that could block the keys.
    expect(await locks.using(['busy', 'other'], async () => 'free', { waitTimeoutMs: 100 })).toBe('free');
    expect(locks.size).toBe(0);
  });

  it('acquires a free key even with a wait timeout of 0, and checks its options', async () => {
    const locks = new LocalLockManager();
    expect(await locks.using(['k'], async () => 'ok', { waitTimeoutMs: 0 })).toBe('ok');
    await expect(locks.using(['k'], async () => 'ok', { waitTimeoutMs: -1 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    await expect(locks.using([''], async () => 'ok')).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
    expect(() => new LocalLockManager({ waitTimeoutMs: Number.NaN })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }));
  });

  it('gives up after its default wait timeout when the caller names none', async () => {
    const locks = new LocalLockManager({ waitTimeoutMs: 50 });
    let release!: () => void;
    const holder = locks.using(['k'], () => new Promise<void>((resolve) => (release = resolve)));
    await expect(locks.using(['k'], async () => 'ran')).rejects.toMatchObject({ code: 'ERR_UNAVAILABLE' });
    release();
    await holder;
  });
});
