// The ports, the services and the pure logic. Each backend is an entry point of its own
// (`@mixtape/core/sqlite`), so that this one never loads a database driver.

export * from './errors.js';
export * from './model.js';
export { newId } from './ids.js';

export * from './config/mixtape-config.js';
export * from './config/rate-limit-policies.js';
export * from './config/trust-proxy.js';

export * from './auth/auth-service.js';
export * from './auth/jwt-keyring.js';
export * from './auth/password-hasher.js';
export * from './auth/hash-gate.js';
export type * from './auth/token-store.js';
export type * from './auth/revocation-list.js';

export type * from './users/user-store.js';
export * from './users/user-roles.js';
export * from './users/username-key.js';

export type * from './catalog/track-catalog.js';
export * from './catalog/track-resolver.js';

export type * from './library/library-store.js';
export * from './library/library-service.js';

export type * from './search/search-index.js';
export * from './search/track-search.js';
export * from './search/fold-text.js';

export type * from './outbox/search-outbox.js';
export * from './outbox/outbox-relay.js';
export * from './catalog/change-notifying-catalog.js';

export type * from './metadata/track-metadata-provider.js';
export * from './metadata/spotify-metadata-provider.js';
export * from './metadata/demo-metadata-provider.js';

export type * from './sources/track-source.js';
export * from './sources/http-track-source.js';
export * from './sources/demo-track-source.js';

export type * from './storage/blob-store.js';
export * from './storage/local-blob-store.js';
export * from './storage/store-stream.js';
export type * from './storage/blob-ledger.js';

export type * from './jobs/job-queue.js';
export * from './jobs/backoff.js';

export type * from './locks/lock-manager.js';
export * from './locks/lock-request.js';
export * from './locks/local-lock-manager.js';
export * from './locks/observed-lock-manager.js';
export type * from './locks/fencing-tokens.js';
export * from './locks/memory-fencing-tokens.js';

export * from './ratelimit/rate-limiter.js';
export type * from './ratelimit/rate-limit-store.js';
export * from './ratelimit/memory-rate-limit-store.js';
export * from './ratelimit/fallback-rate-limit-store.js';

export * from './downloads/download-service.js';
export * from './downloads/download-processor.js';
export * from './downloads/download-workers.js';
export * from './downloads/failure-policy.js';

export type * from './housekeeping/task-leases.js';
export type * from './housekeeping/temp-files.js';
export * from './housekeeping/housekeeping-scheduler.js';
export * from './housekeeping/housekeeping-tasks.js';
export * from './housekeeping/mixtape-housekeeping.js';

export * from './consistency/reconciler.js';
export * from './library/release-unheld-audio.js';
export * from './library/audio-files.js';
export * from './metrics/mixtape-metrics.js';
export * from './health/health-check.js';
export * from './health/search-health-check.js';
export * from './health/disk-health-check.js';

export * from './spotify/track-ref.js';
export * from './validation/mixtape-validators.js';
export * from './validation/field-checks.js';
export * from './demo/demo-catalog.js';
export * from './demo/demo-audio.js';
export * from './demo/seed-demo-catalog.js';

export * from './mixtape.js';
export * from './resilience/circuit-breaker.js';
export * from './locks/fallback-lock-manager.js';
export type * from './jobs/job-events.js';
export * from './jobs/in-process-job-events.js';
export * from './jobs/job-event-publishing-queue.js';
export * from './metadata/call-budget.js';
export * from './metadata/local-call-budget.js';
