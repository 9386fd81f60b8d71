import {
  type CallBudget,
  LocalCallBudget,
  DemoMetadataProvider,
  DemoTrackSource,
  HttpTrackSource,
  seedDemoCatalog,
  SourceError,
  SpotifyMetadataProvider,
  type MixtapeBackends,
  type MixtapeConfig,
  type TrackMetadataProvider,
  type TrackSource,
} from '@mixtape/core';
import { openSqliteBackends } from '@mixtape/core/sqlite';
import type { Logger } from './logger.js';

/** What each command needs of the backends: `serve` and `worker` take the defaults. */
export interface OpenBackendsOptions {
  /**
   * Apply pending migrations (defaults to `config.migrate`); when false, pending ones are
   * refused with a `MigrationsPendingError` (`mixtape admin`). `mixtape migrate` says true.
   */
  migrate?: boolean;
  /**
   * When false, a database that does not exist yet is a `NotFoundError`, and none is created
   * (`mixtape admin`). MySQL's database is never created: it must exist, whatever this says.
   */
  create?: boolean;
  /**
   * Look, never touch (dry runs): see `openSqliteBackends` and `openMysqlBackends`. The
   * database must exist (`NotFoundError`). On MySQL every session is READ ONLY.
   */
  readOnly?: boolean;
  /**
   * When false, no Redis even when `MIXTAPE_REDIS_URL` is set: `mixtape migrate` and `mixtape
   * admin` change only the database, and would otherwise wait on a Redis that is down. `serve`,
   * `worker` and `reconcile` (which takes the serving processes' locks) keep the default, true.
   */
  redis?: boolean;
  /** Where the Redis connection reports that it went down or came back. */
  logger?: Logger;
}

/** The backends of one process, and what opening them found of the schema. */
export interface OpenedBackends extends MixtapeBackends {
  /** Migrations the database lacks: only ever non-empty when opened `readOnly`. */
  pendingMigrations: number[];
  /** The migrations this opening applied. */
  appliedMigrations: number[];
}

/**
 * Whether the demo catalog and audio are on. `auto` means on while neither Spotify credentials
 * nor an audio origin are configured, so a fresh install works offline at once.
 */
export function demoIsOn(config: Pick<MixtapeConfig, 'demo' | 'spotify' | 'sourceUrlTemplate'>): boolean {
  if (config.demo !== 'auto') return config.demo === 'on';
  return config.spotify === null && config.sourceUrlTemplate === null;
}

/**
 * Builds the backends the configuration asks for: the one place where every command
 * (`serve`, `worker`, `migrate`, `reconcile`, `admin`) gets them. MySQL when
 * `MIXTAPE_MYSQL_URL` is set, else the embedded database; Redis in front of either when
 * `MIXTAPE_REDIS_URL` is set, and Elasticsearch in front of its search when
 * `MIXTAPE_ELASTICSEARCH_URL` is. Seeds nothing: only `mixtape serve` seeds the demo.
 */
export async function openBackends(config: MixtapeConfig, options: OpenBackendsOptions = {}): Promise<OpenedBackends> {
  const redis = config.redisUrl && options.redis !== false ? await connectRedis(config.redisUrl, options.logger) : null;
  try {
    const budget = redis ? new redis.module.RedisCallBudget(redis.connection, spotifyBudget(config)) : new LocalCallBudget(spotifyBudget(config));
    const database = await openDatabaseBackends(config, options, metadataProvider(config, budget));
    const { pendingMigrations, appliedMigrations } = database;
    let backends: MixtapeBackends = database;
    if (redis) {
      backends = await redis.module.openRedisBackends(backends, {
        connection: redis.connection,
        rateLimitFallback: config.rateLimitFallback,
        onError: (error) => options.logger?.debug({ err: error }, 'redis: deferred to a fallback'),
      });
      // The revocation list's start waited for the connection (a second at most): one wait, not two.
      if (!redis.connection.ready) options.logger?.warn('Redis did not answer at start: using the fallbacks until it does');
    }
    if (config.elasticsearch) backends = await withElasticsearch(backends, config.elasticsearch, options);
    return { ...backends, pendingMigrations, appliedMigrations };
  } catch (error) {
    await redis?.connection.close();
    throw error;
  }
}

/** The database's backends: MySQL when configured, else SQLite. */
async function openDatabaseBackends(config: MixtapeConfig, options: OpenBackendsOptions, metadata: TrackMetadataProvider): Promise<OpenedBackends> {
  if (config.mysql) {
    // Loaded only here, so that a process on the embedded database never loads mysql2.
    const { openMysqlBackends } = await import('@mixtape/core/mysql');
    const { url, poolSize, queueLimit, acquireTimeoutMs } = config.mysql;
    // The pool is the backends' own: closing them ends it, or its idle timer would keep the process alive.
    return openMysqlBackends({
      url,
      pool: { poolSize, queueLimit },
      database: { acquireTimeoutMs },
      storageDir: config.storageDir,
      migrate: options.migrate ?? config.migrate,
      readOnly: options.readOnly ?? false,
      metadata,
      source: trackSource(config),
    });
  }
  return openSqliteBackends({
    dataDir: config.dataDir,
    storageDir: config.storageDir,
    migrate: options.migrate ?? config.migrate,
    create: options.create ?? true,
    readOnly: options.readOnly ?? false,
    metadata,
    source: trackSource(config),
  });
}

/**
 * The Redis connection, loaded only when configured (ioredis is an optional dependency). It
 * does not wait for Redis to answer (the revocation list's start does, once the database is
 * open): every port starts on its fallback and moves to Redis when it does. The breaker's
 * changes are logged once each, not every reconnection attempt.
 */
async function connectRedis(url: string, logger: Logger | undefined) {
  const module = await import('@mixtape/core/redis');
  // Each kind of refusal is warned of once per process, not at every reconnection of either connection.
  const warned = new Set<string>();
  const onError = (error: Error) => {
    const refusal = redisRefusal(error);
    if (refusal && !warned.has(refusal.kind)) {
      warned.add(refusal.kind);
      logger?.warn({ reply: refusal.kind }, `MIXTAPE_REDIS_URL: Redis refuses the connection (${refusal.kind}): ${refusal.meaning}`);
    }
    logger?.debug({ err: error }, 'redis connection error');
  };
  const connection = new module.RedisConnection({ url, onError });
  connection.breaker.onChange((state) => {
    if (state === 'open') logger?.warn('Redis does not answer: rate limits, locks and events use their fallbacks');
    else logger?.info('Redis answers again');
  });
  return { module, connection };
}

/**
 * Elasticsearch in front of the database's search, loaded only when configured. Nothing waits
 * for it: the index is created on first use, and the breaker's changes are logged once each.
 */
async function withElasticsearch(backends: MixtapeBackends, search: NonNullable<MixtapeConfig['elasticsearch']>, options: OpenBackendsOptions) {
  const { openElasticsearchBackends } = await import('@mixtape/core/elasticsearch');
  const { logger, readOnly = false } = options;
  const opened = openElasticsearchBackends(backends, {
    url: search.url,
    alias: search.index,
    searchTimeoutMs: search.timeoutMs,
    readOnly,
    onError: (error) => logger?.warn({ err: error }, 'Elasticsearch: the catalog could not be queued for the new index; the reconciler will find what it lacks'),
  });
  opened.engine.breaker.onChange((state) => {
    if (state === 'open') logger?.warn('Elasticsearch does not answer: searches are served by the database, and the index catches up when it is back');
    else logger?.info('Elasticsearch answers again');
  });
  return opened;
}

/**
 * Replies that say the configuration is wrong, not that Redis is down: retrying will not help, so
 * the operator is told at warn level. Redis's own wording never holds the password.
 */
function redisRefusal(error: Error): { kind: string; meaning: string } | null {
  const command = (error as { command?: { name?: string } }).command?.name;
  if (/^NOAUTH\b/.test(error.message)) return { kind: 'NOAUTH', meaning: 'it wants a password, and the URL gives none' };
  if (/^WRONGPASS\b|^ERR invalid password/.test(error.message)) return { kind: 'WRONGPASS', meaning: 'the user name or password in the URL is wrong' };
  if (/^NOPERM\b/.test(error.message)) return { kind: 'NOPERM', meaning: 'the user of the URL lacks a permission Mixtape needs' };
  if (/DB index is out of range/.test(error.message) || (command === 'select' && /out of range/.test(error.message))) {
    return { kind: 'SELECT', meaning: 'it has no database of the number in the URL' };
  }
  return null;
}

function spotifyBudget(config: MixtapeConfig): { name: string; limit: number; windowMs: number } {
  return { name: 'spotify', limit: config.spotifyBudget.limit, windowMs: config.spotifyBudget.windowMs };
}

/** Makes the demo tracks searchable when the demo is on. For `mixtape serve` only. Returns how many. */
export async function seedDemoIfOn(config: MixtapeConfig, backends: Pick<MixtapeBackends, 'catalog' | 'index'>): Promise<number> {
  return demoIsOn(config) ? seedDemoCatalog(backends.catalog) : 0;
}

/**
 * Spotify when configured. Otherwise the demo provider answers for the demo tracks, unless
 * `MIXTAPE_DEMO=off` says there is to be no demo at all: then no track can be resolved.
 */
function metadataProvider(config: MixtapeConfig, budget: CallBudget): TrackMetadataProvider {
  if (config.spotify) {
    return new SpotifyMetadataProvider({
      budget,
      clientId: config.spotify.clientId,
      clientSecret: config.spotify.clientSecret,
      apiUrl: config.spotify.apiUrl,
      accountsUrl: config.spotify.accountsUrl,
    });
  }
  return config.demo === 'off' ? NO_METADATA : new DemoMetadataProvider();
}

/** The origin when configured; otherwise demo audio, unless `MIXTAPE_DEMO=off`. */
function trackSource(config: MixtapeConfig): TrackSource {
  if (config.sourceUrlTemplate) return new HttpTrackSource({ urlTemplate: config.sourceUrlTemplate });
  return config.demo === 'off' ? NO_SOURCE : new DemoTrackSource();
}

const NO_METADATA: TrackMetadataProvider = {
  name: 'none',
  getTrack: async () => null,
};

const NO_SOURCE: TrackSource = {
  name: 'none',
  open: async () => {
    throw new SourceError('not-found', 'No audio source is configured (MIXTAPE_SOURCE_URL is unset and MIXTAPE_DEMO is off)', {
      retryable: false,
    });
  },
};
