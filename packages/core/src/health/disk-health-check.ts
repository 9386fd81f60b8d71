import { statfs } from 'node:fs/promises';
import type { HealthCheck } from './health-check.js';

/**
 * Free space where audio is stored: warn below `warnBytes`, fail below `failBytes`. Not
 * critical: a full disk fails downloads, yet search, streaming and sign-in still work.
 */
export function diskHealthCheck(path: string, limits = { warnBytes: 1024 ** 3, failBytes: 100 * 1024 ** 2 }): HealthCheck {
  return {
    name: 'storage:freeBytes',
    critical: false,
    failure: 'cannot read the free space of the storage directory',
    async run() {
      const stats = await statfs(path);
      const free = stats.bavail * stats.bsize;
      const status = free < limits.failBytes ? 'fail' : free < limits.warnBytes ? 'warn' : 'pass';
      return { status, observedValue: free, observedUnit: 'bytes' };
    },
  };
}
