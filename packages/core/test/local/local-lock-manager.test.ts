import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { LocalLockManager } from '../../src/locks/local-lock-manager.js';
import { describeLockManager } from '../contracts/lock-manager.contract.js';

describeLockManager('local', async () => ({ subject: new LocalLockManager(), close: async () => undefined }));

describe('LocalLockManager', () => {
  it('forgets a key once no one holds or waits for it', async () => {
    const locks = new LocalLockManager();
    const work = Array.from({ length: 30 }, (_, i) =>
      locks.using(`track:${i % 5}`, async () => {
        await sleep(1);
      }),
    );
    expect(locks.size).toBe(5);
    await Promise.all(work);
    expect(locks.size).toBe(0);

    await expect(locks.using('failing', async () => {
      throw new Error('boom');
    })).rejects.toThrow('boom');
    expect(locks.size).toBe(0);
  });

  it('forgets a key after waiters time out', async () => {
    const locks = new LocalLockManager();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const holder = locks.using('busy', () => gate);
    const waiters = Array.from({ length: 5 }, () =>
      locks.using('busy', async () => 'ran', { waitTimeoutMs: 20 }).catch((error: { code?: string }) => error.code),
    );
    expect(await Promise.all(waiters)).toEqual(Array(5).fill('ERR_UNAVAILABLE'));
    expect(locks.size).toBe(1);
    release();
    await holder;
    expect(locks.size).toBe(0);
    // The timed-out waiters left nothing behind that could block the key.
    expect(await locks.using('busy', async () => 'free', { waitTimeoutMs: 100 })).toBe('free');
    expect(locks.size).toBe(0);
  });

  it('acquires a free key even with a wait timeout of 0', async () => {
    const locks = new LocalLockManager();
    expect(await locks.using('k', async () => 'ok', { waitTimeoutMs: 0 })).toBe('ok');
    await expect(locks.using('k', async () => 'ok', { waitTimeoutMs: -1 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' });
  });
});
