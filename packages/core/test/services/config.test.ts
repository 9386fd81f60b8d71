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
      dataDir: './data',
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
      adminUsers: [],
      orphanGraceMs: 3_600_000,
    });
    expect(config.rateLimits).toEqual({
      search: { name: 'search', limit: 60, windowMs: 60_000 },
      download: { name: 'download', limit: 10, windowMs: 60_000 },
      login: { name: 'login', limit: 5, windowMs: 900_000 },
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
      MIXTAPE_MYSQL_URL: 'mysql://app:pw@db:3306/mixtape',
      MIXTAPE_MYSQL_POOL_SIZE: '20',
      MIXTAPE_REDIS_URL: 'redis://cache:6379/0',
      MIXTAPE_ELASTICSEARCH_URL: 'http://search:9200',
    });
    expect(config.mysql).toEqual({ url: 'mysql://app:pw@db:3306/mixtape', poolSize: 20, queueLimit: 100, acquireTimeoutMs: 2000 });
    expect(config.redisUrl).toBe('redis://cache:6379/0');
    expect(config.elasticsearch).toEqual({ url: 'http://search:9200', index: 'mixtape-tracks' });
  });
});
