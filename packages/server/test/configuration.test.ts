import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureBuilt, runCli } from './support/cli-process.js';

const EXIT = { config: 78 } as const;

const SECRET = 'k7Qd9vX2mP4rT8wZ1yB6nC3fH5jL0sAe';
let dataDir: string;

beforeAll(() => {
  ensureBuilt();
  dataDir = mkdtempSync(join(tmpdir(), 'mixtape-config-'));
}, 180_000);

afterAll(() => {
  rmSync(dataDir, { recursive: true, force: true });
});

/** `mixtape serve` with `env`; each case must be refused before anything listens or is written. */
function serve(env: Record<string, string>) {
  return runCli(['serve'], { MIXTAPE_DATA_DIR: join(dataDir, 'never'), MIXTAPE_PORT: '0', ...env });
}

function expectRefused(run: ReturnType<typeof serve>, ...patterns: RegExp[]): string[] {
  expect(run.status, run.stderr).toBe(EXIT.config);
  const lines = run.stderr.split('\n').filter((l) => l.trim() !== '');
  for (const pattern of patterns) expect(lines.filter((l) => pattern.test(l)), run.stderr).toHaveLength(1);
  expect(readdirSync(dataDir)).toEqual([]);
  return lines;
}

describe('configuration the server refuses at start, with exit 78', () => {
  it('a misspelt MIXTAPE_ variable, naming the closest known one', () => {
    const lines = expectRefused(serve({ MIXTAPE_QOUTA_BYTES: '1000' }), /^MIXTAPE_QOUTA_BYTES: .*did you mean MIXTAPE_QUOTA_BYTES\?$/);
    expect(lines).toHaveLength(1);
  });

  it('never the names reserved for clients, scripts and tests', () => {
    // Refused for the weak secret alone: the reserved names pass without a word.
    const run = serve({ MIXTAPE_URL: 'http://x', MIXTAPE_ES_PORT: '9201', MIXTAPE_TEST_RUN: '1', MIXTAPE_BENCH_N: '2', MIXTAPE_JWT_SECRET: 'weak' });
    expect(expectRefused(run, /^MIXTAPE_JWT_SECRET:/)).toHaveLength(1);
  });

  it('the removed MIXTAPE_ADMIN_USERS, saying to use mixtape admin grant', () => {
    expectRefused(serve({ MIXTAPE_ADMIN_USERS: 'alice' }), /^MIXTAPE_ADMIN_USERS: .*mixtape admin grant/);
  });

  it('MySQL or Redis without a shared JWT secret, since instances would each make their own', () => {
    expectRefused(serve({ MIXTAPE_MYSQL_URL: 'mysql://root@127.0.0.1:3306/test' }), /^MIXTAPE_JWT_SECRET: required with MIXTAPE_MYSQL_URL/);
    expectRefused(serve({ MIXTAPE_REDIS_URL: 'redis://127.0.0.1:6379/0' }), /^MIXTAPE_JWT_SECRET: required with MIXTAPE_REDIS_URL/);
  });

  it('a MIXTAPE_TRUST_PROXY that Express would misread, never with a crash (70)', () => {
    for (const value of ['yes', '10.0.0.0/40', 'proxy.internal']) {
      expectRefused(serve({ MIXTAPE_TRUST_PROXY: value, MIXTAPE_JWT_SECRET: SECRET }), /^MIXTAPE_TRUST_PROXY: must be/);
    }
  });

  it('a MIXTAPE_REDIS_URL that ioredis would choke on, one line naming it, never a crash (70 or 1) nor the password', () => {
    for (const url of [
      'redis://:secretpass@127.0.0.1:99999',
      'redis://:secret%zzpass@127.0.0.1:1',
      'redis://:secretpass@127.0.0.1:16391/abc',
      'redis://:secretpass@127.0.0.1:16391/99',
      'redis://:secretpass@127.0.0.1:16391/0?enableOfflineQueue=true',
    ]) {
      const run = serve({ MIXTAPE_REDIS_URL: url, MIXTAPE_JWT_SECRET: SECRET });
      const lines = expectRefused(run, /^MIXTAPE_REDIS_URL: /);
      expect(lines, url).toHaveLength(1);
      expect(run.stderr + run.stdout, url).not.toContain('secret');
    }
  });

  it('every problem at once, one line each, never echoing a secret', () => {
    const lines = expectRefused(
      serve({ MIXTAPE_PROT: '1', MIXTAPE_DEMO: 'sometimes', MIXTAPE_REDIS_URL: 'redis://:hunter2hunter2@127.0.0.1:6379' }),
      /^MIXTAPE_PROT:/,
      /^MIXTAPE_DEMO:/,
      /^MIXTAPE_JWT_SECRET:/,
    );
    expect(lines).toHaveLength(3);
    expect(lines.join('\n')).not.toContain('hunter2');
  });
});
