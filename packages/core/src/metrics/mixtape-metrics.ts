import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import { JOB_STATUSES, type JobStatus } from '../model.js';

/** The states of `mixtape_db_pool_connections{state}`, each reported at every scrape. */
export const DB_POOL_STATES = ['in_use', 'idle', 'waiting'] as const;
export type DbPoolState = (typeof DB_POOL_STATES)[number];

/** Read at scrape time, so gauges tell the state of the stores rather than of this process. */
export interface MetricSources {
  jobCounts?: () => Promise<Record<JobStatus, number>>;
  storedBytes?: () => Promise<number>;
  /** Changes in the search outbox, and when the oldest of them was made. */
  searchBacklog?: () => Promise<{ pending: number; oldestEnqueuedAt: Date | null }>;
  /** This process's database connections by state; without it (no pool, as on SQLite) every state is 0. */
  dbPool?: () => Readonly<Record<DbPoolState, number>>;
}

/**
 * Every metric of API.md, on a registry the caller owns (never prom-client's global one).
 * Label values are bounded: routes are patterns, outcomes and policies come from fixed sets.
 */
export function createMixtapeMetrics(registry: Registry, sources: MetricSources = {}) {
  const registers = [registry];
  return {
    registry,
    // Registered first: a scrape collects every metric at once, in this order, and the gauges
    // below that query the database would otherwise count their own queries as waiting.
    dbPoolConnections: new Gauge({
      name: 'mixtape_db_pool_connections',
      help: 'Database pool connections by state',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const stats = sources.dbPool?.();
        for (const state of DB_POOL_STATES) this.set({ state }, stats?.[state] ?? 0);
      },
    }),
    httpRequests: new Counter({
      name: 'mixtape_http_requests_total',
      help: 'HTTP requests served, by route pattern and status',
      labelNames: ['method', 'route', 'status'] as const,
      registers,
    }),
    httpDuration: new Histogram({
      name: 'mixtape_http_request_duration_seconds',
      help: 'Time to serve an HTTP request, until the response is finished',
      labelNames: ['method', 'route'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    rateLimitRejections: new Counter({
      name: 'mixtape_rate_limit_rejections_total',
      help: 'Requests refused by a rate-limit policy',
      labelNames: ['policy'] as const,
      registers,
    }),
    rateLimitFallbacks: new Counter({
      name: 'mixtape_rate_limit_fallbacks_total',
      help: 'Requests whose rate limit was decided without the shared store (Redis down): in-process, or let through',
      labelNames: ['policy'] as const,
      registers,
    }),
    // No labels at all: a username label would leak who is being attacked and grow without bound.
    loginFailures: new Counter({
      name: 'mixtape_login_failures_total',
      help: 'Logins refused for a wrong password or an unknown user',
      registers,
    }),
    upstreamFetches: new Counter({
      name: 'mixtape_upstream_fetches_total',
      help: 'Audio fetches from an origin, by source and outcome',
      labelNames: ['source', 'outcome'] as const,
      registers,
    }),
    downloads: new Counter({
      name: 'mixtape_downloads_total',
      help: 'Download job attempts by outcome: completed, deduplicated, failed, retried',
      labelNames: ['outcome'] as const,
      registers,
    }),
    downloadJobs: new Gauge({
      name: 'mixtape_download_jobs',
      help: 'Download jobs in the queue, by status',
      labelNames: ['status'] as const,
      registers,
      async collect() {
        const counts = await readOrKeep(sources.jobCounts);
        if (counts) for (const status of JOB_STATUSES) this.set({ status }, counts[status]);
      },
    }),
    lockWait: new Histogram({
      name: 'mixtape_lock_wait_seconds',
      help: 'Time spent waiting for a per-track lock',
      labelNames: ['backend'] as const,
      buckets: [0.001, 0.005, 0.025, 0.1, 0.5, 1, 5, 15, 60],
      registers,
    }),
    storageBytes: new Gauge({
      name: 'mixtape_storage_bytes',
      help: 'Bytes of audio stored',
      registers,
      async collect() {
        const bytes = await readOrKeep(sources.storedBytes);
        if (bytes !== undefined) this.set(bytes);
      },
    }),
    searchDegraded: new Gauge({
      name: 'mixtape_search_degraded',
      help: '1 while search is served by the fallback',
      registers,
    }),
    searchOutboxPending: new Gauge({
      name: 'mixtape_search_outbox_pending',
      help: 'Changes not yet in the search index',
      registers,
      async collect() {
        const backlog = await readOrKeep(sources.searchBacklog);
        if (backlog) this.set(backlog.pending);
      },
    }),
    searchSyncLag: new Gauge({
      name: 'mixtape_search_sync_lag_seconds',
      help: 'Age of the oldest change not yet in the search index',
      registers,
      async collect() {
        const backlog = await readOrKeep(sources.searchBacklog);
        if (backlog) this.set(backlog.oldestEnqueuedAt ? Math.max(0, Date.now() - backlog.oldestEnqueuedAt.getTime()) / 1000 : 0);
      },
    }),
    reconcilerRepairs: new Counter({
      name: 'mixtape_reconciler_repairs_total',
      help: 'Inconsistencies repaired by the reconciler, by kind',
      labelNames: ['kind'] as const,
      registers,
    }),
  };
}

export type MixtapeMetrics = ReturnType<typeof createMixtapeMetrics>;

/**
 * Reads a store for a gauge, or gives undefined when the store cannot answer, so the gauge keeps
 * its last value. A scrape must succeed most of all while the database is down: that is when
 * operators need the pool gauge and the HTTP counters, and `/health` already says what failed.
 */
async function readOrKeep<T>(read: (() => Promise<T>) | undefined): Promise<T | undefined> {
  if (!read) return undefined;
  try {
    return await read();
  } catch {
    return undefined;
  }
}
