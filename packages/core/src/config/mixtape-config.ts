import { join } from 'node:path';
import Joi from 'joi';
import { ConfigError } from '../errors.js';
import { parseRate, parseRateLimitPolicies, type RateLimitPolicies } from './rate-limit-policies.js';
import { mysqlUrlProblem } from './mysql-url.js';
import { elasticsearchUrlProblem } from './elasticsearch-url.js';
import { redisUrlProblem } from './redis-url.js';
import { parseTrustProxy, type TrustProxy } from './trust-proxy.js';
import { unknownVariableProblems } from './variable-names.js';

export type DemoSetting = 'auto' | 'on' | 'off';

export interface MixtapeConfig {
  production: boolean;
  host: string;
  /** Where `mixtape serve` listens. */
  port: number;
  /** Where `mixtape worker` serves its ops paths: `MIXTAPE_PORT` when set, else 3001. */
  workerPort: number;
  logLevel: string;
  corsOrigins: string[];
  dataDir: string;
  storageDir: string;
  migrate: boolean;
  mysql: { url: string; poolSize: number; queueLimit: number; acquireTimeoutMs: number } | null;
  redisUrl: string | null;
  elasticsearch: { url: string; index: string; timeoutMs: number } | null;
  rateLimitFallback: 'local' | 'open';
  /** Signing secrets, newest first; null means none was given (development only). */
  jwtSecrets: string[] | null;
  sourceUrlTemplate: string | null;
  spotify: { clientId: string; clientSecret: string; apiUrl: string; accountsUrl: string } | null;
  /** Spotify Web API calls allowed per window, shared by every instance. */
  spotifyBudget: { limit: number; windowMs: number };
  quotaBytes: number;
  maxTrackBytes: number;
  fetchTimeoutMs: number;
  rateLimits: RateLimitPolicies;
  workers: number;
  maxActiveJobsPerUser: number;
  shutdownGraceMs: number;
  maxAttempts: number;
  retryBaseMs: number;
  jobLeaseMs: number;
  jobRetentionMs: number;
  metricsToken: string | null;
  registration: 'open' | 'closed';
  /** The demo catalog and audio; `auto` is on when no Spotify credentials and no source URL are set. */
  demo: DemoSetting;
  /** Express `trust proxy`; null when `MIXTAPE_TRUST_PROXY` is unset (no proxy is trusted). */
  trustProxy: TrustProxy | null;
  orphanGraceMs: number;
}

export type Environment = Readonly<Record<string, string | undefined>>;

export interface ConfigSources {
  /** Reads `MIXTAPE_JWT_SECRET_FILE`; core does no I/O of its own here. */
  readSecretFile?: (path: string) => string;
}

/** A secret shorter than this many bytes is refused: HS256 wants at least the hash size. */
export const MIN_SECRET_BYTES = 32;

const sourceUrl = Joi.string().uri({ scheme: ['http', 'https'] });
const integer = (min: number, max = Number.MAX_SAFE_INTEGER) => Joi.number().integer().min(min).max(max);
/** A URL checked by `problem`, whose words name the variable and never echo the URL (it may hold a password). */
const urlJudgedBy = (problem: (url: string) => string | null) =>
  Joi.string().custom((url: string, helpers) => {
    const found = problem(url);
    return found ? helpers.message({ custom: `{{#label}} ${found.replace(/[{}]/g, (brace) => `\\${brace}`)}` }) : url;
  });

const schema = Joi.object({
  NODE_ENV: Joi.string().valid('development', 'production', 'test').default('development'),
  MIXTAPE_HOST: Joi.string().hostname().default('127.0.0.1'),
  MIXTAPE_PORT: Joi.number().port(),
  MIXTAPE_LOG_LEVEL: Joi.string().valid('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent').default('info'),
  MIXTAPE_CORS_ORIGINS: Joi.string(),
  MIXTAPE_DATA_DIR: Joi.string().default('./data'),
  MIXTAPE_STORAGE_DIR: Joi.string(),
  MIXTAPE_MIGRATE: Joi.boolean().default(true),
  MIXTAPE_MYSQL_URL: Joi.string().custom((url: string, helpers) => {
    const problem = mysqlUrlProblem(url);
    // Braces are Joi template syntax: the examples' own braces are escaped.
    return problem ? helpers.message({ custom: `{{#label}} ${problem.replace(/[{}]/g, (brace) => `\\${brace}`)}` }) : url;
  }),
  MIXTAPE_MYSQL_POOL_SIZE: integer(1, 1000).default(10),
  MIXTAPE_MYSQL_QUEUE_LIMIT: integer(0, 100_000).default(100),
  MIXTAPE_MYSQL_ACQUIRE_TIMEOUT_MS: integer(1, 600_000).default(2000),
  MIXTAPE_REDIS_URL: urlJudgedBy(redisUrlProblem),
  MIXTAPE_ELASTICSEARCH_URL: urlJudgedBy(elasticsearchUrlProblem),
  MIXTAPE_ELASTICSEARCH_INDEX: Joi.string()
    .pattern(/^[a-z0-9][a-z0-9_.-]{0,99}$/)
    .default('mixtape-tracks'),
  MIXTAPE_ELASTICSEARCH_TIMEOUT_MS: integer(1, 600_000).default(1000),
  MIXTAPE_RATE_LIMIT_FALLBACK: Joi.string().valid('local', 'open').default('local'),
  MIXTAPE_SPOTIFY_BUDGET: Joi.string().default('20/1s'),
  // `{` and `}` are not URI characters, so the template is checked as a URL with an id in their place.
  MIXTAPE_SOURCE_URL: Joi.string()
    .custom((template: string, helpers) =>
      sourceUrl.validate(template.replaceAll('{id}', 'id')).error ? helpers.message({ custom: '{{#label}} must be an http(s) URL' }) : template,
    )
    .pattern(/\{id\}/)
    // A bare `{id}` would be read as a template reference and vanish from the message.
    .messages({ 'string.pattern.base': '{{#label}} must contain \\{id\\}' }),
  MIXTAPE_SPOTIFY_CLIENT_ID: Joi.string().max(200),
  MIXTAPE_SPOTIFY_CLIENT_SECRET: Joi.string().max(200),
  MIXTAPE_SPOTIFY_API_URL: Joi.string().uri({ scheme: ['http', 'https'] }).default('https://api.spotify.com'),
  MIXTAPE_SPOTIFY_ACCOUNTS_URL: Joi.string()
    .uri({ scheme: ['http', 'https'] })
    .default('https://accounts.spotify.com'),
  MIXTAPE_QUOTA_BYTES: integer(0).default(1_073_741_824),
  MIXTAPE_MAX_TRACK_BYTES: integer(1).default(209_715_200),
  MIXTAPE_FETCH_TIMEOUT_MS: integer(1000, 86_400_000).default(600_000),
  MIXTAPE_RATE_LIMITS: Joi.string().allow('').default(''),
  MIXTAPE_WORKERS: integer(0, 64).default(2),
  MIXTAPE_MAX_ACTIVE_JOBS_PER_USER: integer(1, 100_000).default(20),
  MIXTAPE_SHUTDOWN_GRACE_MS: integer(0, 3_600_000).default(10_000),
  MIXTAPE_MAX_ATTEMPTS: integer(1, 100).default(5),
  MIXTAPE_RETRY_BASE_MS: integer(1, 3_600_000).default(1000),
  MIXTAPE_JOB_LEASE_MS: integer(1000, 3_600_000).default(30_000),
  MIXTAPE_JOB_RETENTION_MS: integer(0).default(604_800_000),
  MIXTAPE_METRICS_TOKEN: Joi.any(),
  MIXTAPE_JWT_SECRET: Joi.any(),
  MIXTAPE_JWT_SECRET_FILE: Joi.any(),
  MIXTAPE_REGISTRATION: Joi.string().valid('open', 'closed').default('open'),
  MIXTAPE_DEMO: Joi.string().valid('auto', 'on', 'off').default('auto'),
  MIXTAPE_TRUST_PROXY: Joi.string(),
  MIXTAPE_ORPHAN_GRACE_MS: integer(0).default(3_600_000),
})
  // Unknown MIXTAPE_ names are judged apart, with a suggestion; the rest of the environment is not ours.
  .unknown(true)
  // Joi's default wording quotes the value, which may be a secret.
  .messages({ 'string.pattern.base': '{{#label}} has the wrong form' });

/** Every variable the server reads (secrets are read apart, but are known names all the same). */
export const CONFIG_VARIABLES: readonly string[] = Object.keys(schema.describe().keys ?? {}).filter((name) => name.startsWith('MIXTAPE_'));

const WORKER_PORT = 3001;

/**
 * Turns the environment into a checked configuration, once. Every problem is reported, one line
 * each, naming its variable and never echoing a secret's value.
 * @throws ConfigError
 */
export function parseConfig(env: Environment, sources: ConfigSources = {}): MixtapeConfig {
  const { value, error } = schema.validate(presentOnly(env), {
    abortEarly: false,
    convert: true,
    errors: { wrap: { label: false } },
  });
  const problems = unknownVariableProblems(Object.keys(env), CONFIG_VARIABLES);
  problems.push(...(error?.details ?? []).map((d) => `${String(d.path[0])}: ${d.message.replace(/^\S+ /, '')}`));
  const rateLimits = parseRateLimitPolicies(String(value.MIXTAPE_RATE_LIMITS ?? ''));
  if ('problems' in rateLimits) problems.push(...rateLimits.problems.map((p) => `MIXTAPE_RATE_LIMITS: ${p}`));
  const spotifyBudget = parseRate(String(value.MIXTAPE_SPOTIFY_BUDGET));
  if (spotifyBudget === null || typeof spotifyBudget === 'string') {
    problems.push('MIXTAPE_SPOTIFY_BUDGET: must be calls/window with at least 1 call and a window of at least 1s, e.g. 20/1s');
  }
  const trustProxy = value.MIXTAPE_TRUST_PROXY === undefined ? null : parseTrustProxy(String(value.MIXTAPE_TRUST_PROXY));
  if (trustProxy && 'problem' in trustProxy) problems.push(`MIXTAPE_TRUST_PROXY: ${trustProxy.problem}`);
  const corsOrigins = readCorsOrigins(value.MIXTAPE_CORS_ORIGINS);
  if (typeof corsOrigins === 'string') problems.push(`MIXTAPE_CORS_ORIGINS: ${corsOrigins}`);
  const production = value.NODE_ENV === 'production';
  // Several instances must verify each other's tokens, so each making up its own key would fail.
  const sharedBy = production ? 'NODE_ENV=production' : value.MIXTAPE_MYSQL_URL ? 'MIXTAPE_MYSQL_URL' : value.MIXTAPE_REDIS_URL ? 'MIXTAPE_REDIS_URL' : null;
  const jwt = readJwtSecrets(env, sources, sharedBy);
  problems.push(...jwt.problems);
  if (Boolean(env.MIXTAPE_SPOTIFY_CLIENT_ID) !== Boolean(env.MIXTAPE_SPOTIFY_CLIENT_SECRET)) {
    problems.push('MIXTAPE_SPOTIFY_CLIENT_ID: set together with MIXTAPE_SPOTIFY_CLIENT_SECRET, or neither');
  }
  const metricsToken = env.MIXTAPE_METRICS_TOKEN || null;
  if (metricsToken !== null && metricsToken.length < 16) problems.push('MIXTAPE_METRICS_TOKEN: must be at least 16 characters');
  if (
    problems.length > 0 ||
    'problems' in rateLimits ||
    spotifyBudget === null ||
    typeof spotifyBudget === 'string' ||
    typeof corsOrigins === 'string' ||
    (trustProxy && 'problem' in trustProxy)
  ) {
    throw new ConfigError(problems);
  }

  return {
    production,
    host: value.MIXTAPE_HOST,
    port: value.MIXTAPE_PORT ?? 3000,
    workerPort: value.MIXTAPE_PORT ?? WORKER_PORT,
    logLevel: value.MIXTAPE_LOG_LEVEL,
    corsOrigins,
    dataDir: value.MIXTAPE_DATA_DIR,
    storageDir: value.MIXTAPE_STORAGE_DIR ?? join(value.MIXTAPE_DATA_DIR, 'audio'),
    migrate: value.MIXTAPE_MIGRATE,
    mysql: value.MIXTAPE_MYSQL_URL
      ? {
          url: value.MIXTAPE_MYSQL_URL,
          poolSize: value.MIXTAPE_MYSQL_POOL_SIZE,
          queueLimit: value.MIXTAPE_MYSQL_QUEUE_LIMIT,
          acquireTimeoutMs: value.MIXTAPE_MYSQL_ACQUIRE_TIMEOUT_MS,
        }
      : null,
    redisUrl: value.MIXTAPE_REDIS_URL ?? null,
    elasticsearch: value.MIXTAPE_ELASTICSEARCH_URL
      ? {
          url: value.MIXTAPE_ELASTICSEARCH_URL,
          index: value.MIXTAPE_ELASTICSEARCH_INDEX,
          timeoutMs: value.MIXTAPE_ELASTICSEARCH_TIMEOUT_MS,
        }
      : null,
    rateLimitFallback: value.MIXTAPE_RATE_LIMIT_FALLBACK,
    jwtSecrets: jwt.secrets,
    sourceUrlTemplate: value.MIXTAPE_SOURCE_URL ?? null,
    spotify: value.MIXTAPE_SPOTIFY_CLIENT_ID
      ? {
          clientId: value.MIXTAPE_SPOTIFY_CLIENT_ID,
          clientSecret: value.MIXTAPE_SPOTIFY_CLIENT_SECRET,
          apiUrl: value.MIXTAPE_SPOTIFY_API_URL,
          accountsUrl: value.MIXTAPE_SPOTIFY_ACCOUNTS_URL,
        }
      : null,
    spotifyBudget,
    quotaBytes: value.MIXTAPE_QUOTA_BYTES,
    maxTrackBytes: value.MIXTAPE_MAX_TRACK_BYTES,
    fetchTimeoutMs: value.MIXTAPE_FETCH_TIMEOUT_MS,
    rateLimits: rateLimits.policies,
    workers: value.MIXTAPE_WORKERS,
    maxActiveJobsPerUser: value.MIXTAPE_MAX_ACTIVE_JOBS_PER_USER,
    shutdownGraceMs: value.MIXTAPE_SHUTDOWN_GRACE_MS,
    maxAttempts: value.MIXTAPE_MAX_ATTEMPTS,
    retryBaseMs: value.MIXTAPE_RETRY_BASE_MS,
    jobLeaseMs: value.MIXTAPE_JOB_LEASE_MS,
    jobRetentionMs: value.MIXTAPE_JOB_RETENTION_MS,
    metricsToken,
    registration: value.MIXTAPE_REGISTRATION,
    demo: value.MIXTAPE_DEMO,
    trustProxy: trustProxy && 'value' in trustProxy ? trustProxy.value : null,
    orphanGraceMs: value.MIXTAPE_ORPHAN_GRACE_MS,
  };
}

/** Origins such as `https://app.example.com`: scheme, host and port only, as browsers send them. */
function readCorsOrigins(text: string | undefined): string[] | string {
  const origins = (text ?? '').split(',').map((o) => o.trim()).filter(Boolean);
  for (const origin of origins) {
    let parsed: URL | undefined;
    try {
      parsed = new URL(origin);
    } catch {
      parsed = undefined;
    }
    if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || parsed.origin !== origin.replace(/\/$/, '')) {
      return `"${origin}" is not an origin such as https://app.example.com (no path, no wildcard)`;
    }
  }
  return origins.map((o) => o.replace(/\/$/, ''));
}

/** Empty variables count as unset, as shells and compose files often leave them. */
function presentOnly(env: Environment): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
}

/**
 * Several comma-separated secrets allow rotation: the first signs, all verify. Secrets are
 * never echoed, only judged.
 */
function readJwtSecrets(
  env: Environment,
  sources: ConfigSources,
  requiredBy: string | null,
): { secrets: string[] | null; problems: string[] } {
  let variable = 'MIXTAPE_JWT_SECRET';
  let text = env.MIXTAPE_JWT_SECRET || '';
  if (env.MIXTAPE_JWT_SECRET_FILE) {
    if (text) return { secrets: null, problems: ['MIXTAPE_JWT_SECRET_FILE: set only one of MIXTAPE_JWT_SECRET and MIXTAPE_JWT_SECRET_FILE'] };
    variable = 'MIXTAPE_JWT_SECRET_FILE';
    try {
      if (!sources.readSecretFile) throw new Error('no reader');
      text = sources.readSecretFile(env.MIXTAPE_JWT_SECRET_FILE).trim();
    } catch {
      return { secrets: null, problems: ['MIXTAPE_JWT_SECRET_FILE: the file cannot be read'] };
    }
  }
  if (!text) {
    return requiredBy
      ? {
          secrets: null,
          problems: [
            `MIXTAPE_JWT_SECRET: required with ${requiredBy}, so that every instance shares the keys (make one with \`mixtape keygen\`)`,
          ],
        }
      : { secrets: null, problems: [] };
  }
  const secrets = text.split(',').map((s) => s.trim()).filter(Boolean);
  const weak = secrets.filter((s) => Buffer.byteLength(s) < MIN_SECRET_BYTES || new Set(s).size < 10);
  if (weak.length > 0) {
    return {
      secrets: null,
      problems: [`${variable}: each secret needs at least ${MIN_SECRET_BYTES} bytes of varied characters (make one with \`mixtape keygen\`)`],
    };
  }
  return { secrets, problems: [] };
}
