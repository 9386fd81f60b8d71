import { Registry } from 'prom-client';
import { AuthService, type AuthSettings } from './auth/auth-service.js';
import type { JwtKeyring } from './auth/jwt-keyring.js';
import { HashGate, type HashGateOptions } from './auth/hash-gate.js';
import { DEFAULT_SCRYPT_COST, PasswordHasher } from './auth/password-hasher.js';
import type { RevocationList } from './auth/revocation-list.js';
import type { TokenStore } from './auth/token-store.js';
import type { TrackCatalog } from './catalog/track-catalog.js';
import { notifyCatalogChanges } from './catalog/change-notifying-catalog.js';
import { TrackResolver, type TrackLookupSettings } from './catalog/track-resolver.js';
import { Reconciler } from './consistency/reconciler.js';
import { DownloadProcessor } from './downloads/download-processor.js';
import { DownloadService } from './downloads/download-service.js';
import { DownloadWorkers, type WorkerEvent } from './downloads/download-workers.js';
import { runHealthChecks, type HealthCheck, type HealthReport } from './health/health-check.js';
import type { HousekeepingScheduler } from './housekeeping/housekeeping-scheduler.js';
import {
  createMixtapeHousekeeping,
  defaultHousekeepingSettings,
  type HousekeepingEvent,
  type HousekeepingSettings,
} from './housekeeping/mixtape-housekeeping.js';
import type { TaskLeases } from './housekeeping/task-leases.js';
import type { TempFiles } from './housekeeping/temp-files.js';
import type { JobQueue } from './jobs/job-queue.js';
import type { JobEvents } from './jobs/job-events.js';
import { InProcessJobEvents } from './jobs/in-process-job-events.js';
import { publishJobChanges } from './jobs/job-event-publishing-queue.js';
import { AudioFiles } from './library/audio-files.js';
import { LibraryService } from './library/library-service.js';
import type { LibraryStore } from './library/library-store.js';
import type { FencingTokens } from './locks/fencing-tokens.js';
import type { LockManager } from './locks/lock-manager.js';
import { observeLockWaits } from './locks/observed-lock-manager.js';
import type { TrackMetadataProvider } from './metadata/track-metadata-provider.js';
import { DEFAULT_OUTBOX_RELAY_SETTINGS, OutboxRelay, type OutboxRelaySettings } from './outbox/outbox-relay.js';
import type { SearchOutbox } from './outbox/search-outbox.js';
import { createMixtapeMetrics, type DbPoolState, type MixtapeMetrics } from './metrics/mixtape-metrics.js';
import type { RateLimitStores } from './ratelimit/rate-limit-store.js';
import type { SearchIndex } from './search/search-index.js';
import { TrackSearch } from './search/track-search.js';
import type { TrackSource } from './sources/track-source.js';
import type { BlobLedger } from './storage/blob-ledger.js';
import type { BlobStore } from './storage/blob-store.js';
import { UserRoles } from './users/user-roles.js';
import type { UserStore } from './users/user-store.js';
import { mixtapeValidators, type MixtapeValidators } from './validation/mixtape-validators.js';

/** Every port Mixtape needs, whichever adapters fill them. */
export interface MixtapeBackends {
  users: UserStore;
  tokens: TokenStore;
  /** Revoked sessions and access tokens, checked from memory on every authenticated request. */
  revocations: RevocationList;
  catalog: TrackCatalog;
  library: LibraryStore;
  queue: JobQueue;
  index: SearchIndex;
  /**
   * Where searches go while `index` fails: the database's full-text index behind Elasticsearch,
   * which `index` keeps in step. Absent, the catalog's plain text match answers.
   */
  searchFallback?: Pick<SearchIndex, 'search'>;
  /** Search changes not yet in `index`, written by `catalog` with each change. */
  searchOutbox: SearchOutbox;
  blobs: BlobStore;
  /** A row per stored file, so that a file is deleted through a tombstone (see `AudioFiles`). */
  blobLedger: BlobLedger;
  locks: LockManager;
  /**
   * The fencing authority of the database the stores write to: a lock manager not on that
   * database (a Redis one) takes its tokens from here.
   */
  fencing: FencingTokens;
  /** One rate limit store per policy. */
  rateLimitStores: RateLimitStores;
  metadata: TrackMetadataProvider;
  source: TrackSource;
  healthChecks: HealthCheck[];
  /** Named leases, so that one process at a time runs each housekeeping task. */
  taskLeases: TaskLeases;
  /** Temp files of writes in progress, swept by housekeeping; absent when the blob store keeps none. */
  tempFiles?: TempFiles;
  /** The database pool's connections by state, for `mixtape_db_pool_connections`; absent where there is no pool. */
  poolStats?(): Readonly<Record<DbPoolState, number>>;
  /** Job changes told to every instance's event streams; absent, an in-process emitter (one process). */
  jobEvents?: JobEvents;
  close(): Promise<void>;
}

export interface MixtapeSettings {
  keyring: JwtKeyring;
  quotaBytes: number;
  maxTrackBytes: number;
  /** A fetch from the origin not finished in this time is abandoned and retried (default 10 minutes). */
  fetchTimeoutMs?: number;
  maxAttempts: number;
  retryBaseMs: number;
  jobLeaseMs: number;
  /** Download workers in this process; 0 leaves the work to `mixtape worker` processes. */
  workers: number;
  /** Queued plus running jobs one user may have (default 20). */
  maxActiveJobsPerUser?: number;
  /** Final jobs older than this are purged by housekeeping (default 7 days). */
  jobRetentionMs?: number;
  /** How long `close` lets jobs in flight finish before handing them back (default 10 s). */
  shutdownGraceMs?: number;
  auth?: Partial<AuthSettings>;
  /** Rules on what callers send, each replacing the contract's (`DEFAULT_MIXTAPE_VALIDATORS`) whole. */
  validators?: Partial<MixtapeValidators>;
  /** How many password hashes run at once, and how many may wait (see `HashGate`). */
  passwordHashing?: HashGateOptions;
  /** Replaces the default hasher (OWASP's scrypt cost behind a gate of `passwordHashing`). */
  hasher?: PasswordHasher;
  healthTimeoutMs?: number;
  /** A stored file with no row is an orphan only once this old (default an hour). */
  orphanGraceMs?: number;
  workerPollIntervalMs?: number;
  /** Unknown tracks are remembered for a while, so that asking again costs no provider call. */
  trackLookups?: Partial<TrackLookupSettings>;
  /** How the search outbox is relayed to the index (see `OutboxRelay`). */
  searchRelay?: Partial<OutboxRelaySettings>;
  /** How often each housekeeping chore runs across all processes (see `defaultHousekeepingSettings`). */
  housekeeping?: Partial<HousekeepingSettings>;
}

export interface Mixtape {
  backends: MixtapeBackends;
  metrics: MixtapeMetrics;
  auth: AuthService;
  /** Who holds which role, read from the database each time. */
  roles: UserRoles;
  /** What every service checks its input against; the server builds its schemas and its document from them. */
  validators: MixtapeValidators;
  search: TrackSearch;
  resolver: TrackResolver;
  /** Published after every change of a job made through these services; event streams subscribe. */
  jobEvents: JobEvents;
  /** The job queue, publishing each change to `jobEvents`: what anything that writes jobs must use. */
  queue: JobQueue;
  downloads: DownloadService;
  library: LibraryService;
  workers: DownloadWorkers;
  reconciler: Reconciler;
  /** Feeds the search index from the outbox: kicked by every catalog change, and by housekeeping once started. */
  outboxRelay: OutboxRelay;
  /** Periodic chores (reaping, purging, relaying, sweeping, repairing, reconciling), each run by one process at a time. */
  housekeeping: HousekeepingScheduler;
  health(only?: 'critical'): Promise<HealthReport>;
  /** Starts the in-process workers, if any, and the housekeeping scheduler. */
  start(): void;
  /** Stops the workers (letting jobs in flight finish), then closes the backends. Safe twice. */
  close(): Promise<void>;
}

/** Wires the services of Mixtape over a set of backends. Does no I/O. */
export function createMixtape(
  backends: MixtapeBackends,
  settings: MixtapeSettings,
  options: {
    registry?: Registry;
    onWorkerEvent?: (event: WorkerEvent) => void;
    /** Housekeeping runs and faults; without it, faults go to `onWorkerEvent` as errors. */
    onHousekeeping?: (event: HousekeepingEvent) => void;
    /**
     * What the search outbox relay could not write (the index down, a document refused); it
     * retries by itself. Without it, these go to `onWorkerEvent` as errors.
     */
    onSearchSyncError?: (error: unknown) => void;
    /** Why a search was answered by the fallback: the index down, or refusing (credentials, a mapping). */
    onSearchFallback?: (error: unknown) => void;
  } = {},
): Mixtape {
  // First, so that a rule that cannot hold stops the start as a configuration error.
  const validators = mixtapeValidators(settings.validators);
  const metrics = createMixtapeMetrics(options.registry ?? new Registry(), {
    jobCounts: () => backends.queue.countByStatus(),
    storedBytes: () => backends.catalog.storedBytes(),
    searchBacklog: () => backends.searchOutbox.backlog(),
    ...(backends.poolStats ? { dbPool: backends.poolStats.bind(backends) } : {}),
  });
  // Only stores with a fallback (Redis) tell of it: one count per request limited without Redis.
  backends.rateLimitStores.onFallback?.((policy) => metrics.rateLimitFallbacks.inc({ policy }));
  const locks = observeLockWaits(backends.locks, (seconds, backend) => metrics.lockWait.observe({ backend }, seconds));
  const { library: libraryStore, index, blobs } = backends;
  const jobEvents = backends.jobEvents ?? new InProcessJobEvents();
  // Every service writes jobs through this queue, so that each change reaches event streams at once.
  const queue = publishJobChanges(backends.queue, jobEvents);
  const outboxRelay = new OutboxRelay({
    outbox: backends.searchOutbox,
    catalog: backends.catalog,
    index,
    ...(settings.searchRelay ? { settings: settings.searchRelay } : {}),
    onError: options.onSearchSyncError ?? ((error) => options.onWorkerEvent?.({ type: 'error', error })),
  });
  // Every service writes through this catalog, so that each change is relayed to search at once.
  const catalog = notifyCatalogChanges(backends.catalog, () => outboxRelay.kick());
  // A tombstoned file outlives, by far, any lock whose holder may have seen it in use.
  const files = new AudioFiles({ catalog, blobs, ledger: backends.blobLedger, locks, tombstoneGraceMs: Math.max(600_000, 4 * settings.jobLeaseMs) });
  const resolver = new TrackResolver({
    catalog,
    provider: backends.metadata,
    locks,
    ...(settings.trackLookups ? { settings: settings.trackLookups } : {}),
  });
  const processor = new DownloadProcessor({
    catalog,
    resolver,
    library: libraryStore,
    blobs,
    files,
    source: backends.source,
    locks,
    reservations: queue,
    settings: {
      quotaBytes: settings.quotaBytes,
      maxTrackBytes: settings.maxTrackBytes,
      trackLockTtlMs: settings.jobLeaseMs,
      ...(settings.fetchTimeoutMs === undefined ? {} : { fetchTimeoutMs: settings.fetchTimeoutMs }),
    },
    observer: { onFetch: (source, outcome) => metrics.upstreamFetches.inc({ source, outcome }) },
  });
  const workers = new DownloadWorkers({
    queue,
    processor,
    count: settings.workers,
    leaseMs: settings.jobLeaseMs,
    retryBaseMs: settings.retryBaseMs,
    shutdownGraceMs: settings.shutdownGraceMs ?? 10_000,
    ...(settings.workerPollIntervalMs === undefined ? {} : { pollIntervalMs: settings.workerPollIntervalMs }),
    onEvent(event) {
      if (event.type === 'completed') metrics.downloads.inc({ outcome: event.outcome });
      if (event.type === 'retried' || event.type === 'failed') metrics.downloads.inc({ outcome: event.type });
      options.onWorkerEvent?.(event);
    },
  });
  const reconciler = new Reconciler({
    catalog,
    blobs,
    files,
    index,
    queue,
    locks,
    orphanGraceMs: settings.orphanGraceMs ?? 3_600_000,
    onRepair: (kind) => metrics.reconcilerRepairs.inc({ kind }),
    searchRepairs: outboxRelay,
  });
  const jobRetentionMs = settings.jobRetentionMs ?? 7 * 24 * 3_600_000;
  // Every process that starts runs the scheduler; the leases decide which one runs each chore.
  const housekeeping = createMixtapeHousekeeping({
    leases: backends.taskLeases,
    queue,
    tokens: backends.tokens,
    relay: outboxRelay,
    reconciler,
    ...(backends.tempFiles ? { temps: backends.tempFiles } : {}),
    jobRetentionMs,
    orphanGraceMs: settings.orphanGraceMs ?? 3_600_000,
    settings: {
      ...defaultHousekeepingSettings({
        jobLeaseMs: settings.jobLeaseMs,
        jobRetentionMs,
        relayIntervalMs: settings.searchRelay?.intervalMs ?? DEFAULT_OUTBOX_RELAY_SETTINGS.intervalMs,
      }),
      ...settings.housekeeping,
    },
    onReaped: ({ requeued, failed }) => {
      if (requeued > 0) metrics.downloads.inc({ outcome: 'retried' }, requeued);
      if (failed > 0) metrics.downloads.inc({ outcome: 'failed' }, failed);
    },
    onEvent(event) {
      if (options.onHousekeeping) options.onHousekeeping(event);
      else if (event.type === 'error') options.onWorkerEvent?.({ type: 'error', error: event.error });
    },
  });
  let closing: Promise<void> | undefined;
  return {
    reconciler,
    housekeeping,
    validators,
    outboxRelay,
    backends,
    metrics,
    resolver,
    jobEvents,
    queue,
    workers,
    auth: new AuthService({
      users: backends.users,
      tokens: backends.tokens,
      revocations: backends.revocations,
      keyring: settings.keyring,
      hasher: settings.hasher ?? new PasswordHasher(DEFAULT_SCRYPT_COST, new HashGate(settings.passwordHashing)),
      ...(settings.auth ? { settings: settings.auth } : {}),
      onLoginFailed: () => metrics.loginFailures.inc(),
      validators,
    }),
    roles: new UserRoles(backends.users),
    search: new TrackSearch({
      index,
      ...(backends.searchFallback ? { fallback: backends.searchFallback } : {}),
      catalog,
      onDegraded: (degraded, error) => {
        metrics.searchDegraded.set(degraded ? 1 : 0);
        if (degraded) options.onSearchFallback?.(error);
      },
      validators,
    }),
    downloads: new DownloadService({
      queue,
      resolver,
      library: libraryStore,
      sizes: catalog,
      settings: {
        quotaBytes: settings.quotaBytes,
        maxAttempts: settings.maxAttempts,
        maxActiveJobsPerUser: settings.maxActiveJobsPerUser ?? 20,
      },
      onEnqueued: () => workers.wake(),
      validators,
    }),
    library: new LibraryService({ library: libraryStore, catalog, blobs, locks, files, quotaBytes: settings.quotaBytes, validators }),
    health: (only) =>
      runHealthChecks(backends.healthChecks, {
        timeoutMs: settings.healthTimeoutMs ?? 2000,
        ...(only ? { only } : {}),
      }),
    start() {
      workers.start();
      housekeeping.start();
    },
    close() {
      closing ??= Promise.all([workers.close(), housekeeping.close(), outboxRelay.close()])
        // The backends close their own; the in-process one made here is closed here.
        .then(() => (jobEvents === backends.jobEvents ? undefined : jobEvents.close()))
        .then(() => backends.close());
      return closing;
    },
  };
}
