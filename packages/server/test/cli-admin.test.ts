import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openSqliteDatabase } from '@mixtape/core/sqlite';
import { CLI, cliEnvironment, ensureBuilt, ROOT, runCli } from './support/cli-process.js';

/** `mixtape admin grant|revoke` end to end: the built CLI against a database a served API uses. */

const EX = { usage: 64, noUser: 67, config: 78 } as const;
const PASSWORD = 'a long enough password';

let root: string;
const children: ChildProcess[] = [];

beforeAll(() => {
  ensureBuilt();
  root = mkdtempSync(join(tmpdir(), 'mixtape-cli-admin-'));
}, 180_000);

afterAll(() => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

/** Only what the test gives, in `dataDir`. */
function environment(dataDir: string, env: Record<string, string> = {}): NodeJS.ProcessEnv {
  return cliEnvironment({ MIXTAPE_DATA_DIR: dataDir, ...env });
}

function mixtape(dataDir: string, args: string[]) {
  const result = runCli(args, { MIXTAPE_DATA_DIR: dataDir });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** `mixtape serve` on a free port; resolves once it printed its URL. */
async function serve(dataDir: string): Promise<{ url: string; stop(): Promise<number | null> }> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    cwd: ROOT,
    env: environment(dataDir, { MIXTAPE_PORT: '0', MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'), MIXTAPE_WORKERS: '0' }),
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
    url = /(http:\/\/127\.0\.0\.1:\d+)\b/.exec(output)?.[1];
    if (!url && (Date.now() > deadline || child.exitCode !== null)) throw new Error(`no URL printed:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  return {
    url,
    async stop() {
      child.kill('SIGTERM');
      const [code] = await exited;
      return code as number | null;
    },
  };
}

async function json(url: string, init: { token?: string; body?: unknown } = {}) {
  const response = await fetch(url, {
    method: init.body === undefined ? 'GET' : 'POST',
    headers: {
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(init.body === undefined ? {} : { body: JSON.stringify(init.body) }),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

describe('mixtape admin', () => {
  it('exits 64 with the usage on bad arguments, before reading any configuration', () => {
    const dataDir = join(root, 'usage');
    for (const args of [['admin'], ['admin', 'grant'], ['admin', 'promote', 'alice'], ['admin', 'grant', 'alice', 'bob']]) {
      const run = mixtape(dataDir, args);
      expect(run.status, args.join(' ')).toBe(EX.usage);
      expect(run.stderr).toMatch(/mixtape admin grant <username>/);
      expect(run.stdout).toBe('');
    }
    expect(existsSync(dataDir)).toBe(false);
  });

  it('says the database must be migrated first, and exits 78, when it is missing or not migrated', () => {
    const missing = mixtape(join(root, 'missing'), ['admin', 'grant', 'alice']);
    expect(missing.status).toBe(EX.config);
    expect(missing.stderr).toMatch(/no database at .*mixtape\.db: run `mixtape migrate` first/);
    expect(existsSync(join(root, 'missing'))).toBe(false);

    const unmigrated = join(root, 'unmigrated');
    mkdirSync(unmigrated);
    openSqliteDatabase(join(unmigrated, 'mixtape.db')).close();
    const run = mixtape(unmigrated, ['admin', 'grant', 'alice']);
    expect(run.status).toBe(EX.config);
    expect(run.stderr).toMatch(/not migrated \(migrations [\d, ]+ pending\): run `mixtape migrate` first/);
  });

  it('grants and revokes on a migrated database; a revoke holds at once for a signed-in admin', async () => {
    const dataDir = join(root, 'served');
    expect(mixtape(dataDir, ['migrate']).status).toBe(0);
    const unknown = mixtape(dataDir, ['admin', 'grant', 'alice']);
    expect(unknown.status).toBe(EX.noUser);
    expect(unknown.stderr).toBe('mixtape admin: no user is named "alice"\n');

    const server = await serve(dataDir);
    const api = `${server.url}/api/v1`;
    expect((await json(`${api}/auth/register`, { body: { username: 'Alice', password: PASSWORD } })).status).toBe(201);
    const { accessToken } = (await json(`${api}/auth/login`, { body: { username: 'alice', password: PASSWORD } })).body;
    expect((await json(`${api}/admin/jobs`, { token: accessToken })).status).toBe(403);

    const granted = mixtape(dataDir, ['admin', 'grant', 'ALICE']);
    expect(granted.status, granted.stderr).toBe(0);
    expect(granted.stdout).toBe('Alice is now an admin\n');
    expect((await json(`${api}/admin/jobs`, { token: accessToken })).status).toBe(200);
    expect((await json(`${api}/me`, { token: accessToken })).body.roles).toEqual(['user', 'admin']);
    expect(mixtape(dataDir, ['admin', 'grant', 'alice']).stdout).toBe('Alice was already an admin\n');

    const revoked = mixtape(dataDir, ['admin', 'revoke', 'alice']);
    expect(revoked.status, revoked.stderr).toBe(0);
    expect(revoked.stdout).toBe('Alice is no longer an admin\n');
    expect((await json(`${api}/admin/jobs`, { token: accessToken })).status).toBe(403);
    expect((await json(`${api}/me`, { token: accessToken })).body.roles).toEqual(['user']);
    const again = mixtape(dataDir, ['admin', 'revoke', 'alice']);
    expect(again.status).toBe(0);
    expect(again.stdout).toBe('Alice was not an admin\n');

    expect(await server.stop()).toBe(0);
  });
});
