import { JwtKeyring, PasswordHasher, type MixtapeSettings } from '@mixtape/core';

/**
 * The settings of an in-process Mixtape that only answers HTTP in a test: no workers, a quick
 * password hash, 1 MiB of quota and track.
 */
export function apiOnlySettings(): MixtapeSettings {
  return {
    keyring: JwtKeyring.ephemeral(),
    hasher: new PasswordHasher({ N: 1024, r: 8, p: 1 }),
    quotaBytes: 1024 ** 2,
    maxTrackBytes: 1024 ** 2,
    maxAttempts: 3,
    retryBaseMs: 50,
    jobLeaseMs: 30_000,
    workers: 0,
  };
}
