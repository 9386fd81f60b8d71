import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLI, cliEnvironment, ensureBuilt, ROOT, runCli } from './support/cli-process.js';

const EX_CONFIG = 78;

let dataDir: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  ensureBuilt();
  dataDir = mkdtempSync(join(tmpdir(), 'mixtape-cli-'));
}, 180_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(dataDir, { recursive: true, force: true });
});

/** Only what the test gives, in this file's data dir unless it says otherwise. */
function environment(env: Record<string, string>): NodeJS.ProcessEnv {
  return cliEnvironment({ MIXTAPE_DATA_DIR: dataDir, ...env });
}

function mixtape(args: string[], env: Record<string, string> = {}) {
  return runCli(args, { MIXTAPE_DATA_DIR: dataDir, ...env });
}

const lines = (text: string) => text.split('\n').filter((l) => l.trim() !== '');

describe('mixtape keygen', () => {
  it('prints one line of base64url holding at least 32 bytes, new each time', () => {
    const first = mixtape(['keygen']);
    const second = mixtape(['keygen']);
    for (const run of [first, second]) {
      expect(run.status).toBe(0);
      expect(run.stderr).toBe('');
      expect(run.stdout).toMatch(/^[A-Za-z0-9_-]+\n$/);
      expect(Buffer.from(run.stdout.trim(), 'base64url').length).toBeGreaterThanOrEqual(32);
    }
    expect(first.stdout).not.toBe(second.stdout);
  });
});

describe('mixtape serve with bad configuration', () => {
  it('exits 78 with one line per problem, naming each variable', () => {
    const run = mixtape(['serve'], { MIXTAPE_PORT: 'abc', MIXTAPE_RATE_LIMITS: 'bogus=1/1m', NODE_ENV: 'production' });
    expect(run.status).toBe(EX_CONFIG);
    const problems = lines(run.stderr);
    expect(problems).toHaveLength(3);
    for (const variable of ['MIXTAPE_PORT', 'MIXTAPE_RATE_LIMITS', 'MIXTAPE_JWT_SECRET']) {
      expect(problems.filter((p) => p.startsWith(`${variable}:`)), variable).toHaveLength(1);
    }
    expect(run.stdout).not.toContain('listening');
  });

  it('refuses a short JWT secret without ever echoing it', () => {
    const secret = `short-${randomBytes(4).toString('hex')}`;
    const run = mixtape(['serve'], { MIXTAPE_JWT_SECRET: secret, MIXTAPE_PORT: '0' });
    expect(run.status).toBe(EX_CONFIG);
    expect(lines(run.stderr)).toHaveLength(1);
    expect(run.stderr).toMatch(/^MIXTAPE_JWT_SECRET: /);
    expect(run.stderr + run.stdout).not.toContain(secret);
    expect(run.stderr + run.stdout).not.toContain(secret.slice(6));
  });

  it('names every variable when several secrets are wrong, and echoes none of them', () => {
    const jwt = `tiny-${randomBytes(3).toString('hex')}`;
    const metrics = `m-${randomBytes(3).toString('hex')}`;
    const run = mixtape(['serve'], { MIXTAPE_JWT_SECRET: jwt, MIXTAPE_METRICS_TOKEN: metrics, NODE_ENV: 'production', MIXTAPE_PORT: '70000' });
    expect(run.status).toBe(EX_CONFIG);
    const problems = lines(run.stderr);
    expect(problems.map((p) => p.split(':')[0]).sort()).toEqual(['MIXTAPE_JWT_SECRET', 'MIXTAPE_METRICS_TOKEN', 'MIXTAPE_PORT']);
    for (const secret of [jwt, metrics]) expect(run.stderr + run.stdout).not.toContain(secret);
  });
});

describe('mixtape migrate', () => {
  it('applies the migrations, then reports nothing pending', () => {
    const dir = join(dataDir, 'migrate');
    const first = mixtape(['migrate'], { MIXTAPE_DATA_DIR: dir });
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/applied/i);
    expect(first.stdout).not.toMatch(/no migrations pending/i);
    expect(existsSync(join(dir, 'mixtape.db'))).toBe(true);

    const second = mixtape(['migrate'], { MIXTAPE_DATA_DIR: dir });
    expect(second.status, second.stderr).toBe(0);
    expect(second.stdout).toMatch(/no migrations pending/i);
  });

  it('migrates with Elasticsearch configured but not answering: the database is all it needs', () => {
    const dir = join(dataDir, 'migrate-beside-search');
    // Port 9 (discard) refuses connections here: an Elasticsearch that is down.
    const env = { MIXTAPE_DATA_DIR: dir, MIXTAPE_ELASTICSEARCH_URL: 'http://127.0.0.1:9' };
    const migrated = mixtape(['migrate'], env);
    expect(migrated.status, migrated.stderr).toBe(0);
    expect(migrated.stdout).toMatch(/applied/i);
    expect(existsSync(join(dir, 'mixtape.db'))).toBe(true);
  });
});

describe('mixtape serve', () => {
  it('prints its URL on MIXTAPE_PORT=0, answers /livez, and exits 0 on SIGTERM', async () => {
    const secret = randomBytes(32).toString('base64url');
    const child = spawn(process.execPath, [CLI, 'serve'], {
      cwd: ROOT,
      env: environment({ MIXTAPE_PORT: '0', MIXTAPE_DATA_DIR: join(dataDir, 'serve'), MIXTAPE_JWT_SECRET: secret, MIXTAPE_LOG_LEVEL: 'info' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    let output = '';
    child.stdout.on('data', (chunk) => (output += String(chunk)));
    child.stderr.on('data', (chunk) => (output += String(chunk)));
    const exited = once(child, 'exit');

    const deadline = Date.now() + 15_000;
    let url: string | undefined;
    while (!url) {
      url = /(http:\/\/127\.0\.0\.1:(\d+))\b/.exec(output)?.[1];
      if (!url && (Date.now() > deadline || child.exitCode !== null)) throw new Error(`no URL printed:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(url).not.toMatch(/:0$/);
    expect(output).toContain(`Mixtape is listening on ${url}`);

    const live = await fetch(`${url}/livez`);
    expect(live.status).toBe(200);
    expect(await live.text()).toBe('ok');

    child.kill('SIGTERM');
    const [code, signal] = await exited;
    expect(signal).toBeNull();
    expect(code).toBe(0);
    expect(output).not.toContain(secret);
    await expect(fetch(`${url}/livez`)).rejects.toThrow();
  });
});
