import { Registry, collectDefaultMetrics } from 'prom-client';
import { createMixtape, JwtKeyring, UnavailableError, type Mixtape, type MixtapeBackends, type MixtapeConfig, type PasswordHasher } from '@mixtape/core';
import { openBackends } from './backends.js';
import type { Logger } from './logger.js';

/** The services of one process, configured from the environment's config. */
export async function mixtapeFromConfig(
  config: MixtapeConfig,
  logger: Logger,
  options: { workers: number; migrate?: boolean; hasher?: PasswordHasher; backends?: MixtapeBackends },
): Promise<Mixtape> {
  const registry = new Registry();
  /** Kinds of search refusal already logged: each is told once per process. */
  const searchRefusalsTold = new Set<string>();
  collectDefaultMetrics({ register: registry });
  const keyring = config.jwtSecrets ? JwtKeyring.fromSecrets(config.jwtSecrets) : JwtKeyring.ephemeral();
  if (keyring.ephemeral) {
    logger.warn('MIXTAPE_JWT_SECRET is not set: using a random key, so sessions end when the process stops');
  }
  // Given when the caller opened them itself, e.g. read-only for a dry run.
  const backends = options.backends ?? (await openBackends(config, { migrate: options.migrate ?? config.migrate, logger }));
  return createMixtape(
    backends,
    {
      keyring,
      quotaBytes: config.quotaBytes,
      maxTrackBytes: config.maxTrackBytes,
      fetchTimeoutMs: config.fetchTimeoutMs,
      maxAttempts: config.maxAttempts,
      retryBaseMs: config.retryBaseMs,
      jobLeaseMs: config.jobLeaseMs,
      maxActiveJobsPerUser: config.maxActiveJobsPerUser,
      jobRetentionMs: config.jobRetentionMs,
      shutdownGraceMs: config.shutdownGraceMs,
      workers: options.workers,
      orphanGraceMs: config.orphanGraceMs,
      auth: { registration: config.registration },
      ...(options.hasher ? { hasher: options.hasher } : {}),
    },
    {
      registry,
      onWorkerEvent(event) {
        if (event.type === 'error') logger.error({ err: event.error }, 'download worker error');
        else if (event.type === 'failed' || event.type === 'retried') {
          logger.warn({ jobId: event.job.id, trackId: event.job.trackId, error: event.error }, `download ${event.type}`);
        } else if (event.type === 'waiting') {
          // Every few seconds while another worker fetches the track: not news.
          logger.debug({ jobId: event.job.id, trackId: event.job.trackId, retryAt: event.retryAt }, 'download waiting for its track');
        } else logger.info({ jobId: event.job.id, trackId: event.job.trackId }, `download ${event.type}`);
      },
      onSearchSyncError(error) {
        // While the index is down, its breaker's changes are logged once each (backends.ts); each retried pass is not news.
        if (error instanceof UnavailableError) logger.debug({ err: error }, 'search index write deferred: the index is down');
        else logger.warn({ err: error }, 'search index write failed; retried with backoff');
      },
      onSearchFallback(error) {
        // An outage is logged by the breaker as it opens and closes; a refusal (wrong credentials,
        // a foreign mapping under the alias) never opens it, so it is told once per kind.
        if (error instanceof UnavailableError) return;
        const kind = error instanceof Error ? `${error.name}: ${error.message}` : 'unknown';
        if (searchRefusalsTold.has(kind)) return;
        searchRefusalsTold.add(kind);
        logger.warn({ err: error }, 'search answered by the database: the search index refuses searches');
      },
      onHousekeeping(event) {
        if (event.type === 'error') logger.error({ err: event.error, task: event.task }, 'housekeeping task failed');
        else logger.debug({ task: event.task, durationMs: Math.round(event.durationMs), result: event.result }, 'housekeeping task ran');
      },
    },
  );
}
