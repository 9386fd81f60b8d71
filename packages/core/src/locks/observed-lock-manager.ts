import type { LockManager, LockOptions } from './lock-manager.js';

/** Wraps any lock manager to report how long each caller waited before its work began. */
export function observeLockWaits(locks: LockManager, onWait: (seconds: number, backend: string) => void): LockManager {
  return {
    backend: locks.backend,
    using<T>(key: string, work: (signal: AbortSignal) => Promise<T>, options?: LockOptions): Promise<T> {
      const asked = performance.now();
      return locks.using(
        key,
        (signal) => {
          onWait((performance.now() - asked) / 1000, locks.backend);
          return work(signal);
        },
        options,
      );
    },
  };
}
