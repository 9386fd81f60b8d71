import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { HashGate, parseConfig, PasswordHasher } from '@mixtape/core';
import { createLogger, startServer, type RunningServer } from '@mixtape/server';

/** The database a test server runs on: the embedded one, or a new MariaDB database of its own. */
export type TestDatabase = 'sqlite' | 'mysql';

export interface TestServer extends RunningServer {
  api: string;
  dataDir: string;
  /** With `database: 'mysql'`, the URL of its database (created empty, migrated by the server, dropped by `stop`). */
  mysqlUrl?: string;
  /** Every log line the server wrote, for checks that secrets never appear. */
  logs: string[];
  stop(): Promise<void>;
}

/**
 * Real scrypt at N=2^17 takes about 260 ms a hash here; hundreds of sign-ups would crawl. The
 * tests of hashing itself (password-hashing.test.ts) pass `{ hasher: new PasswordHasher() }`.
 * The roomy gate keeps bursts of test logins from being shed.
 */
const cheapHasher = () => new PasswordHasher({ N: 1024, r: 8, p: 1 }, new HashGate({ maxWaiting: 10_000 }));

/**
 * A real server on an ephemeral loopback port, with its own data dir and a random JWT secret.
 * `env` adds to or overrides the configuration, exactly as environment variables would.
 * `database: 'mysql'` gives it an empty MariaDB database of its own (MIXTAPE_MYSQL_URL), which
 * the server migrates as `mixtape serve` would, and `stop` drops.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  options: { hasher?: PasswordHasher; database?: TestDatabase } = {},
): Promise<TestServer> {
  // Loaded only when asked, so that the SQLite suites never load mysql2.
  const mysql =
    options.database === 'mysql'
      ? await (await import('../../../core/test/mysql/mysql-test-server.js')).freshMysqlDatabase({ migrate: false })
      : undefined;
  const dataDir = mkdtempSync(join(tmpdir(), 'mixtape-server-'));
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk, _encoding, callback) {
      logs.push(String(chunk));
      callback();
    },
  });
  const config = parseConfig({
    MIXTAPE_PORT: '0',
    MIXTAPE_DATA_DIR: dataDir,
    MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'),
    MIXTAPE_RETRY_BASE_MS: '50',
    ...(mysql ? { MIXTAPE_MYSQL_URL: mysql.url } : {}),
    ...env,
  });
  let running: RunningServer;
  try {
    running = await startServer(config, createLogger({ level: 'debug', destination }), { hasher: options.hasher ?? cheapHasher() });
  } catch (error) {
    await mysql?.drop();
    throw error;
  }
  return {
    ...running,
    api: `${running.url}/api/v1`,
    dataDir,
    ...(mysql ? { mysqlUrl: mysql.url } : {}),
    logs,
    async stop() {
      await running.close();
      await mysql?.drop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** A JSON request with an optional bearer token; returns status, headers and parsed body. */
export async function call(
  url: string,
  options: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<{ status: number; headers: Headers; body: any; text: string }> {
  const headers: Record<string, string> = { ...options.headers };
  if (options.token) headers.authorization = `Bearer ${options.token}`;
  if (options.body !== undefined) headers['content-type'] ??= 'application/json';
  const response = await fetch(url, {
    method: options.method ?? (options.body === undefined ? 'GET' : 'POST'),
    headers,
    ...(options.body === undefined ? {} : { body: typeof options.body === 'string' ? options.body : JSON.stringify(options.body) }),
  });
  const text = await response.text();
  let body: unknown = undefined;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    body = undefined;
  }
  return { status: response.status, headers: response.headers, body, text };
}

/** Registers and logs in a fresh user; returns its tokens. */
export async function signUp(server: TestServer, username = `user${randomBytes(4).toString('hex')}`, password = 'a long enough password') {
  const registered = await call(`${server.api}/auth/register`, { body: { username, password } });
  if (registered.status !== 201) throw new Error(`register failed: ${registered.status} ${registered.text}`);
  const login = await call(`${server.api}/auth/login`, { body: { username, password } });
  if (login.status !== 200) throw new Error(`login failed: ${login.status} ${login.text}`);
  return { username, password, id: registered.body.id as string, ...(login.body as { accessToken: string; refreshToken: string }) };
}

/** Polls a job until it reaches a final status (bounded, so a stuck job fails the test instead of hanging). */
export async function waitForJob(server: TestServer, token: string, jobId: string, timeoutMs = 15_000): Promise<any> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const job = await call(`${server.api}/downloads/${jobId}`, { token });
    if (['completed', 'failed', 'cancelled'].includes(job.body?.status)) return job.body;
    if (Date.now() > deadline) throw new Error(`job ${jobId} still ${job.body?.status} after ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
