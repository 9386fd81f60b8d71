import type { LockContext, LockManager, LockOptions } from './lock-manager.js';

/**
 * Wraps any lock manager to report how long each caller waited: until its work began, or until
 * it gave up (a timeout, an abort), since a wait that failed is the one worth seeing.
 */
export function observeLockWaits(locks: LockManager, onWait: (seconds: number, backend: string) => void): LockManager {
  return {
    backend: locks.backend,
    async using<T>(keys: readonly string[], work: (lock: LockContext) => Promise<T>, options?: LockOptions): Promise<T> {
      const asked = performance.now();
      let began = false;
      try {
        return await locks.using(
          keys,
          (lock) => {
            began = true;
            onWait((performance.now() - asked) / 1000, lock.backend ?? locks.backend);
            return work(lock);
          },
          options,
        );
      } catch (error) {
        if (!began) onWait((performance.now() - asked) / 1000, locks.backend);
        throw error;
      }
    },
  };
}
