import { JwtKeyring } from '../../src/auth/jwt-keyring.js';
import { PasswordHasher } from '../../src/auth/password-hasher.js';
import type { MixtapeSettings } from '../../src/mixtape.js';

/**
 * The settings of each Mixtape process in the tests that run several on one data dir (the
 * child programs, and the test's own process among them): one in-process worker polling every
 * 50 ms, a quick password hash, room for any test track, short retries. The job lease, and so
 * how soon another process takes a job back, is the test's.
 */
export function processSettings(jobLeaseMs: number): MixtapeSettings {
  return {
    keyring: JwtKeyring.ephemeral(),
    hasher: new PasswordHasher({ N: 1024, r: 8, p: 1 }),
    quotaBytes: 100 * 1024 ** 2,
    maxTrackBytes: 50 * 1024 ** 2,
    maxAttempts: 3,
    retryBaseMs: 50,
    jobLeaseMs,
    workers: 1,
    workerPollIntervalMs: 50,
  };
}
