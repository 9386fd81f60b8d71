import { JwtKeyring, type MixtapeSettings } from '../../src/index.js';

/**
 * The settings of a Mixtape whose services a test drives itself: no workers, roomy quotas, fast
 * retries and short leases. `overrides` adds or replaces any of them.
 */
export function serviceTestSettings(overrides: Partial<MixtapeSettings> = {}): MixtapeSettings {
  return {
    keyring: JwtKeyring.ephemeral(),
    quotaBytes: 1e9,
    maxTrackBytes: 1e9,
    maxAttempts: 3,
    retryBaseMs: 10,
    jobLeaseMs: 1000,
    workers: 0,
    ...overrides,
  };
}
