import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfig } from '../../src/index.js';

const STRONG = 'k7Qd9vX2mP4rT8wZ1yB6nC3fH5jL0sAe';

function problemsOf(env: Record<string, string>): string[] {
  try {
    parseConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe('parseConfig', () => {
  it('gives the defaults of API.md for an empty environment', () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      host: '127.0.0.1',
      port: 3000,
      workerPort: 3001,
      logLevel: 'info',
      corsOrigins: [],
      dataDir: './data',
      storageDir: 'data/audio',
      mysql: null,
      redisUrl: null,
      elasticsearch: null,
      jwtSecrets: null,
      quotaBytes: 1_073_741_824,
      maxTrackBytes: 209_715_200,
      workers: 2,
      maxAttempts: 5,
      retryBaseMs: 1000,
      jobLeaseMs: 30_000,
      registration: 'open',
      demo: 'auto',
      trustProxy: null,
      rateLimitFallback: 'local',
      spotifyBudget: { limit: 20, windowMs: 1000 },
      fetchTimeoutMs: 600_000,
      maxActiveJobsPerUser: 20,
      shutdownGraceMs: 10_000,
      jobRetentionMs: 604_800_000,
      orphanGraceMs: 3_600_000,
    });
    expect(config).not.toHaveProperty('adminUsers');
    expect(config.rateLimits).toEqual({
      search: { name: 'search', limit: 60, windowMs: 60_000 },
      download: { name: 'download', limit: 10, windowMs: 60_000 },
      lookup: { name: 'lookup', limit: 60, windowMs: 60_000 },
      login: { name: 'login', limit: 5, windowMs: 900_000 },
      'login-ip': { name: 'login-ip', limit: 100, windowMs: 86_400_000 },
      register: { name: 'register', limit: 5, windowMs: 3_600_000 },
      global: { name: 'global', limit: 600, windowMs: 60_000 },
    });
  });

  it('keeps the defaults of rate-limit policies left out', () => {
    const config = parseConfig({ MIXTAPE_RATE_LIMITS: 'search=3/10s' });
    expect(config.rateLimits.search).toEqual({ name: 'search', limit: 3, windowMs: 10_000 });
    expect(config.rateLimits.login.limit).toBe(5);
  });

  it('reports every problem, one line each, naming its variable', () => {
    const problems = problemsOf({
      MIXTAPE_PORT: 'abc',
      MIXTAPE_RATE_LIMITS: 'bogus=1/1m',
      MIXTAPE_REGISTRATION: 'maybe',
      MIXTAPE_SOURCE_URL: 'http://origin/audio',
      MIXTAPE_SPOTIFY_CLIENT_ID: 'only-the-id',
    });
    expect(problems).toHaveLength(5);
    for (const variable of ['MIXTAPE_PORT', 'MIXTAPE_RATE_LIMITS', 'MIXTAPE_REGISTRATION', 'MIXTAPE_SOURCE_URL', 'MIXTAPE_SPOTIFY_CLIENT_ID']) {
      expect(problems.filter((p) => p.startsWith(`${variable}:`))).toHaveLength(1);
    }
    expect(problems.every((p) => !p.includes('\n'))).toBe(true);
  });

  it('refuses production without a signing key', () => {
    expect(problemsOf({ NODE_ENV: 'production' })).toEqual([expect.stringMatching(/^MIXTAPE_JWT_SECRET: required/)]);
    expect(parseConfig({ NODE_ENV: 'production', MIXTAPE_JWT_SECRET: STRONG }).jwtSecrets).toEqual([STRONG]);
  });

  it('refuses a weak key anywhere, without echoing it', () => {
    for (const weak of ['short-secret', 'a'.repeat(64)]) {
      const problems = problemsOf({ MIXTAPE_JWT_SECRET: weak });
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^MIXTAPE_JWT_SECRET:/);
      expect(problems.join('\n')).not.toContain(weak);
    }
  });

  it('takes several comma-separated keys for rotation, newest first', () => {
    const older = 'Zr8pW3qL6tN1vB9xC4mK7hJ2gF5dS0aQ';
    expect(parseConfig({ MIXTAPE_JWT_SECRET: `${STRONG},${older}` }).jwtSecrets).toEqual([STRONG, older]);
  });

  it('reads the key from a file, and says so when it cannot', () => {
    const files: Record<string, string> = { '/run/secrets/jwt': `${STRONG}\n` };
    const readSecretFile = (path: string) => {
      const text = files[path];
      if (text === undefined) throw new Error(`ENOENT ${path}`);
      return text;
    };
    expect(parseConfig({ MIXTAPE_JWT_SECRET_FILE: '/run/secrets/jwt' }, { readSecretFile }).jwtSecrets).toEqual([STRONG]);
    try {
      parseConfig({ MIXTAPE_JWT_SECRET_FILE: '/missing' }, { readSecretFile });
      expect.unreachable();
    } catch (error) {
      expect((error as ConfigError).problems).toEqual(['MIXTAPE_JWT_SECRET_FILE: the file cannot be read']);
    }
  });

  it('treats empty variables as unset', () => {
    expect(parseConfig({ MIXTAPE_PORT: '', MIXTAPE_JWT_SECRET: '' }).port).toBe(3000);
  });

  it('parses the production backends and pool settings', () => {
    const config = parseConfig({
      MIXTAPE_JWT_SECRET: STRONG,
      MIXTAPE_MYSQL_URL: 'mysql://app:pw@db:3306/mixtape',
      MIXTAPE_MYSQL_POOL_SIZE: '20',
      MIXTAPE_REDIS_URL: 'redis://cache:6379/0',
      MIXTAPE_ELASTICSEARCH_URL: 'http://search:9200',
    });
    expect(config.mysql).toEqual({ url: 'mysql://app:pw@db:3306/mixtape', poolSize: 20, queueLimit: 100, acquireTimeoutMs: 2000 });
    expect(config.redisUrl).toBe('redis://cache:6379/0');
    expect(config.elasticsearch).toEqual({ url: 'http://search:9200', index: 'mixtape-tracks', timeoutMs: 1000 });
  });

  it('refuses MySQL or Redis without a shared signing key, since each instance would make its own', () => {
    expect(problemsOf({ MIXTAPE_MYSQL_URL: 'mysql://app:pw@db:3306/mixtape' })).toEqual([
      expect.stringMatching(/^MIXTAPE_JWT_SECRET: required with MIXTAPE_MYSQL_URL/),
    ]);
    expect(problemsOf({ MIXTAPE_REDIS_URL: 'redis://cache:6379/0' })).toEqual([
      expect.stringMatching(/^MIXTAPE_JWT_SECRET: required with MIXTAPE_REDIS_URL/),
    ]);
    expect(parseConfig({ MIXTAPE_REDIS_URL: 'redis://cache:6379/0', MIXTAPE_JWT_SECRET: STRONG }).jwtSecrets).toEqual([STRONG]);
  });

  it('refuses a misspelt MIXTAPE_ variable, naming the closest known one', () => {
    expect(problemsOf({ MIXTAPE_PROT: '8080' })).toEqual(['MIXTAPE_PROT: not a Mixtape setting; did you mean MIXTAPE_PORT?']);
    expect(problemsOf({ MIXTAPE_RATE_LIMIT: 'search=1/1m' })).toEqual([
      'MIXTAPE_RATE_LIMIT: not a Mixtape setting; did you mean MIXTAPE_RATE_LIMITS?',
    ]);
    expect(problemsOf({ MIXTAPE_JWT_SERCET: STRONG })).toEqual([
      'MIXTAPE_JWT_SERCET: not a Mixtape setting; did you mean MIXTAPE_JWT_SECRET?',
    ]);
    expect(problemsOf({ MIXTAPE_SOMETHING_ELSE_ENTIRELY: '1' })).toEqual(['MIXTAPE_SOMETHING_ELSE_ENTIRELY: not a Mixtape setting']);
  });

  it('ignores the names that belong to clients, scripts and tests, and variables that are not ours', () => {
    const config = parseConfig({
      MIXTAPE_URL: 'http://127.0.0.1:3000',
      MIXTAPE_ES_VERSION: '9.2.0',
      MIXTAPE_ES_PORT: '9201',
      MIXTAPE_TEST_MYSQL: 'x',
      MIXTAPE_BENCH_SECONDS: '5',
      PATH: '/usr/bin',
      HOME: '/root',
    });
    expect(config.port).toBe(3000);
  });

  it('accepts and checks every setting of the contract, even while its backend is not configured', () => {
    const config = parseConfig({
      MIXTAPE_LOG_LEVEL: 'debug',
      MIXTAPE_CORS_ORIGINS: 'https://app.example.com, http://localhost:5173',
      MIXTAPE_STORAGE_DIR: '/srv/audio',
      MIXTAPE_MYSQL_POOL_SIZE: '5',
      MIXTAPE_MYSQL_QUEUE_LIMIT: '50',
      MIXTAPE_MYSQL_ACQUIRE_TIMEOUT_MS: '500',
      MIXTAPE_ELASTICSEARCH_INDEX: 'tracks-test',
      MIXTAPE_ELASTICSEARCH_TIMEOUT_MS: '250',
      MIXTAPE_RATE_LIMIT_FALLBACK: 'open',
      MIXTAPE_SPOTIFY_BUDGET: '10/2s',
      MIXTAPE_SPOTIFY_API_URL: 'http://127.0.0.1:9999',
      MIXTAPE_FETCH_TIMEOUT_MS: '5000',
      MIXTAPE_MAX_ACTIVE_JOBS_PER_USER: '3',
      MIXTAPE_SHUTDOWN_GRACE_MS: '2000',
      MIXTAPE_JOB_RETENTION_MS: '60000',
      MIXTAPE_DEMO: 'off',
      MIXTAPE_METRICS_TOKEN: 'a-metrics-token-of-length',
    });
    expect(config).toMatchObject({
      logLevel: 'debug',
      corsOrigins: ['https://app.example.com', 'http://localhost:5173'],
      storageDir: '/srv/audio',
      mysql: null,
      elasticsearch: null,
      rateLimitFallback: 'open',
      spotifyBudget: { limit: 10, windowMs: 2000 },
      fetchTimeoutMs: 5000,
      maxActiveJobsPerUser: 3,
      shutdownGraceMs: 2000,
      jobRetentionMs: 60_000,
      demo: 'off',
    });
    const problems = problemsOf({
      MIXTAPE_LOG_LEVEL: 'loud',
      MIXTAPE_CORS_ORIGINS: 'https://app.example.com/path',
      MIXTAPE_ELASTICSEARCH_TIMEOUT_MS: '0',
      MIXTAPE_RATE_LIMIT_FALLBACK: 'closed',
      MIXTAPE_SPOTIFY_BUDGET: 'lots',
      MIXTAPE_MAX_ACTIVE_JOBS_PER_USER: '0',
      MIXTAPE_SHUTDOWN_GRACE_MS: '-1',
      MIXTAPE_DEMO: 'maybe',
      MIXTAPE_MYSQL_POOL_SIZE: '0',
    });
    for (const variable of [
      'MIXTAPE_LOG_LEVEL',
      'MIXTAPE_CORS_ORIGINS',
      'MIXTAPE_ELASTICSEARCH_TIMEOUT_MS',
      'MIXTAPE_RATE_LIMIT_FALLBACK',
      'MIXTAPE_SPOTIFY_BUDGET',
      'MIXTAPE_MAX_ACTIVE_JOBS_PER_USER',
      'MIXTAPE_SHUTDOWN_GRACE_MS',
      'MIXTAPE_DEMO',
      'MIXTAPE_MYSQL_POOL_SIZE',
    ]) {
      expect(problems.filter((p) => p.startsWith(`${variable}:`)), variable).toHaveLength(1);
    }
    expect(problems).toHaveLength(9);
  });

  it('gives a worker port 3001 unless MIXTAPE_PORT says otherwise', () => {
    expect(parseConfig({}).workerPort).toBe(3001);
    expect(parseConfig({ MIXTAPE_PORT: '0' })).toMatchObject({ port: 0, workerPort: 0 });
    expect(parseConfig({ MIXTAPE_PORT: '4000' })).toMatchObject({ port: 4000, workerPort: 4000 });
  });

  it('refuses the removed MIXTAPE_ADMIN_USERS, saying what to use instead', () => {
    expect(problemsOf({ MIXTAPE_ADMIN_USERS: 'alice' })).toEqual([expect.stringMatching(/^MIXTAPE_ADMIN_USERS: .*mixtape admin grant/)]);
  });

  it('reads MIXTAPE_TRUST_PROXY exactly as Express reads trust proxy, and refuses what Express would misread', () => {
    const trustOf = (text: string) => parseConfig({ MIXTAPE_TRUST_PROXY: text }).trustProxy;
    expect(trustOf('true')).toBe(true);
    expect(trustOf('false')).toBe(false);
    expect(trustOf('1')).toBe(1);
    expect(trustOf('2')).toBe(2);
    expect(trustOf('loopback')).toEqual(['loopback']);
    expect(trustOf('loopback, 10.0.0.0/8,fd00::/8, 192.168.1.1')).toEqual(['loopback', '10.0.0.0/8', 'fd00::/8', '192.168.1.1']);
    expect(trustOf('10.0.0.0/255.0.0.0')).toEqual(['10.0.0.0/255.0.0.0']);
    for (const bad of ['yes', '10.0.0.0/33', 'loopback,,', 'proxy.example.com', '300.1.1.1', '-1']) {
      expect(problemsOf({ MIXTAPE_TRUST_PROXY: bad }), bad).toEqual([expect.stringMatching(/^MIXTAPE_TRUST_PROXY: must be/)]);
    }
  });

  it('reads any whole number in MIXTAPE_TRUST_PROXY as a hop count, as Express reads a number, never as an IPv4 address', () => {
    const trustOf = (text: string) => parseConfig({ MIXTAPE_TRUST_PROXY: text }).trustProxy;
    // proxy-addr would take these as 32-bit addresses: 1000 is 0.0.3.232.
    for (const hops of ['0', '1000', '65536', '4294967295']) expect(trustOf(hops), hops).toBe(Number(hops));
    expect(trustOf(' 12 ')).toBe(12);
  });

  it('refuses a MIXTAPE_MYSQL_URL that mysql2 would choke on, naming the variable and never echoing the password', () => {
    for (const [url, wording] of [
      ['mysql://app:s3cret%pw@db:3306/mixtape', /not percent-encoded/],
      ['mysql://app:pw@db:3306', /must name the database/],
      ['mysql://app:pw@db:3306/', /must name the database/],
      ['mysql://app:pw@db:3306/mixtape?ssl=bogus', /ssl option that is not a JSON object/],
      ['mysql://app:pw@db:3306/mixtape?connectTimeout=1', /does not read/],
      ['postgres://app:pw@db/mixtape', /mysql:\/\//],
      ['not a url', /must be a URL/],
    ] as const) {
      const problems = problemsOf({ MIXTAPE_MYSQL_URL: url, MIXTAPE_JWT_SECRET: STRONG });
      expect(problems, url).toEqual([expect.stringMatching(wording)]);
      expect(problems[0], url).toMatch(/^MIXTAPE_MYSQL_URL: /);
      expect(problems.join('\n')).not.toMatch(/s3cret|pw@/);
    }
    const ok = parseConfig({ MIXTAPE_MYSQL_URL: 'mysql://app:p%40ss@db:3306/mixtape?ssl={"rejectUnauthorized":true}', MIXTAPE_JWT_SECRET: STRONG });
    expect(ok.mysql?.url).toContain('/mixtape');
  });

  it('refuses a MIXTAPE_REDIS_URL that ioredis would choke on, one line naming the variable and never echoing the password', () => {
    for (const [url, wording] of [
      ['redis://:secretpass@127.0.0.1:99999', /port outside 1–65535/],
      ['redis://:secretpass@127.0.0.1:0', /port outside 1–65535/],
      ['redis://:secret%zzpass@127.0.0.1:1', /password that is not percent-encoded/],
      ['redis://secret%zzpass:x@127.0.0.1:1', /user name that is not percent-encoded/],
      ['redis://:secretpass@127.0.0.1:16391/abc', /database number from 0 to 15 \(Redis's default number of databases\)/],
      ['redis://:secretpass@127.0.0.1:16391/99', /database number from 0 to 15/],
      ['redis://:secretpass@127.0.0.1:16391/16', /database number from 0 to 15/],
      ['redis://:secretpass@127.0.0.1:16391/-1', /database number from 0 to 15/],
      ['redis://:secretpass@127.0.0.1:16391/01', /database number from 0 to 15/],
      ['redis://:secretpass@127.0.0.1:16391/1/2', /database number from 0 to 15/],
      ['redis://:secretpass@127.0.0.1:6379/0?enableOfflineQueue=true', /query string/],
      ['redis://:secretpass@127.0.0.1:6379/0#frag', /fragment/],
      ['redis://:secret#pass@127.0.0.1:6379', /must be a URL/],
      ['redis:///0', /must name a host/],
      ['redis://:secretpass@h%zz:6379', /must name a host/],
      ['REDIS://:secretpass@127.0.0.1:6379', /must start with redis:\/\/ or rediss:\/\//],
      ['http://:secretpass@127.0.0.1:6379', /must start with redis:\/\/ or rediss:\/\//],
      ['secretpass', /must start with redis:\/\//],
    ] as const) {
      const problems = problemsOf({ MIXTAPE_REDIS_URL: url, MIXTAPE_JWT_SECRET: STRONG });
      expect(problems, url).toEqual([expect.stringMatching(wording)]);
      expect(problems[0], url).toMatch(/^MIXTAPE_REDIS_URL: /);
      expect(problems.join('\n'), url).not.toMatch(/secret/);
    }
  });

  it('refuses a MIXTAPE_ELASTICSEARCH_URL the client would choke on or Elasticsearch refuse, never echoing the password', () => {
    for (const [url, wording] of [
      ['http://user:secretpass@127.0.0.1:99999', /must be a URL .*port in 1–65535/],
      ['http://user:secretpass@127.0.0.1:9200/?pretty=true', /no query string or fragment/],
      ['http://user:secretpass@127.0.0.1:9200#frag', /no query string or fragment/],
      ['ftp://user:secretpass@127.0.0.1:9200', /must start with http:\/\/ or https:\/\//],
      ['secretpass', /must be a URL/],
    ] as const) {
      const problems = problemsOf({ MIXTAPE_ELASTICSEARCH_URL: url });
      expect(problems, url).toEqual([expect.stringMatching(wording)]);
      expect(problems[0], url).toMatch(/^MIXTAPE_ELASTICSEARCH_URL: /);
      expect(problems.join('\n'), url).not.toMatch(/secret/);
    }
    // A cluster behind a proxy under a path, with credentials, over TLS.
    for (const url of ['http://127.0.0.1:9200', 'https://user:p%40ss@search.internal/es/', 'http://[::1]:9200']) {
      expect(parseConfig({ MIXTAPE_ELASTICSEARCH_URL: url }).elasticsearch?.url, url).toBe(url);
    }
  });

  it('takes the Redis URLs ioredis reads: no database (0), a database 0–15, a user (ACL), TLS, IPv6', () => {
    for (const url of [
      'redis://localhost',
      'redis://localhost/',
      'redis://:p@h:6380/2',
      'rediss://user:pw@h/0',
      'redis://:p%40ss%23word@cache:6379/15',
      'redis://[::1]:6379/1',
    ]) {
      expect(parseConfig({ MIXTAPE_REDIS_URL: url, MIXTAPE_JWT_SECRET: STRONG }).redisUrl, url).toBe(url);
    }
  });
});
