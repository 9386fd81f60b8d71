import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { createConnection, type RowDataPacket } from 'mysql2/promise';
import { MysqlDatabase, type MysqlDatabaseOptions } from '../../src/mysql/mysql-database.js';
import { migrateMysql } from '../../src/mysql/mysql-migrations.js';
import { createMysqlPool, type MysqlPoolOptions } from '../../src/mysql/mysql-pool.js';

/**
 * The MySQL server the tests run against: `MIXTAPE_TEST_MYSQL_URL`, by default MariaDB on this
 * machine. Each test process names its databases `mixtape_test_<run>_<n>`, where <run> starts
 * with the time it began (base 36 epoch ms), and drops them when its suites end; databases of
 * runs that died are swept once they are an hour old. When no server answers on this machine,
 * the harness starts the one installed here; otherwise it fails saying what to start. It never
 * skips.
 */
export const MYSQL_TEST_URL = process.env.MIXTAPE_TEST_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';

const PREFIX = 'mixtape_test_';
const RUN = `${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
const LEFTOVER_AGE_MS = 60 * 60 * 1000;
const START_WAIT_MS = 30_000;

let counter = 0;
let ready: Promise<void> | undefined;

export interface FreshMysqlDatabase {
  /** The database's URL, for another pool or process on it. */
  url: string;
  name: string;
  db: MysqlDatabase;
  /** Closes `db` and drops the database; safe to call twice. */
  drop(): Promise<void>;
}

export interface FreshMysqlOptions {
  pool?: MysqlPoolOptions;
  database?: MysqlDatabaseOptions;
  /** Apply the migrations first; default true. */
  migrate?: boolean;
}

/** A new, empty (by default migrated) database of its own, and a MysqlDatabase on it. */
export async function freshMysqlDatabase(options: FreshMysqlOptions = {}): Promise<FreshMysqlDatabase> {
  await ensureMysqlTestServer();
  counter += 1;
  const name = `${PREFIX}${RUN}_${counter}`;
  await admin((connection) => connection.query(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`));
  const url = mysqlUrl(name);
  const db = new MysqlDatabase(createMysqlPool(url, { poolSize: 4, ...options.pool }), options.database);
  let dropping: Promise<void> | undefined;
  const drop = () =>
    (dropping ??= (async () => {
      await db.close();
      await admin((connection) => connection.query(`DROP DATABASE IF EXISTS \`${name}\``));
    })());
  if (options.migrate ?? true) {
    try {
      await migrateMysql(db);
    } catch (error) {
      await drop();
      throw error;
    }
  }
  return { url, name, db, drop };
}

/** The test server's URL with `database` as its database. */
export function mysqlUrl(database: string): string {
  const url = new URL(MYSQL_TEST_URL);
  url.pathname = `/${database}`;
  return url.href;
}

/** Runs `work` on a connection of its own to the server, with no database chosen. */
export async function admin<T>(work: (connection: Awaited<ReturnType<typeof createConnection>>) => Promise<T>): Promise<T> {
  const url = new URL(MYSQL_TEST_URL);
  url.pathname = '/';
  const connection = await createConnection({ uri: url.href, connectTimeout: 5000 });
  try {
    return await work(connection);
  } finally {
    await connection.end().catch(() => connection.destroy());
  }
}

/** Once per process: a server that answers (started if need be), and old leftovers swept. */
export function ensureMysqlTestServer(): Promise<void> {
  ready ??= (async () => {
    if (!(await answers())) await startLocalServer();
    await sweepLeftovers();
  })();
  return ready;
}

async function answers(): Promise<boolean> {
  try {
    await admin((connection) => connection.query('SELECT 1'));
    return true;
  } catch (error) {
    if (isRefusal(error)) return false;
    throw error;
  }
}

/** The server is not there (as opposed to there and refusing these credentials). */
function isRefusal(error: unknown): boolean {
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && ['ECONNREFUSED', 'ETIMEDOUT', 'ECONNRESET', 'ENOENT', 'PROTOCOL_CONNECTION_LOST'].includes(code);
}

function redacted(href: string): string {
  const url = new URL(href);
  if (url.password) url.password = '***';
  return url.href;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/**
 * Starts the machine's own MariaDB or MySQL, when the test URL points at this machine: the
 * first of these that is installed and brings an answer within 30 s. Several test processes
 * may find the server down at once: one starts it (a lock directory says which), the others wait.
 */
async function startLocalServer(): Promise<void> {
  const url = new URL(MYSQL_TEST_URL);
  const advice = `No MySQL server answers at ${redacted(MYSQL_TEST_URL)}. Start one (on this machine: "service mariadb start", or "start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd"), or point MIXTAPE_TEST_MYSQL_URL at one.`;
  if (!LOOPBACK.has(url.hostname)) throw new Error(advice);
  const lock = join(tmpdir(), 'mixtape-test-mysql-start.lock');
  if (!takeLock(lock)) {
    if (await answersWithin(START_WAIT_MS)) return;
    throw new Error(advice);
  }
  try {
    for (const start of startCommands()) {
      start();
      if (await answersWithin(START_WAIT_MS)) return;
    }
    throw new Error(advice);
  } finally {
    rmdirSync(lock);
  }
}

function takeLock(path: string): boolean {
  // A lock left by a process that died while starting the server is stale after a minute.
  if (existsSync(path) && Date.now() - statSync(path).mtimeMs > 60_000) rmdirSync(path);
  try {
    mkdirSync(path);
    return true;
  } catch {
    return false;
  }
}

function installed(path: string): boolean {
  return existsSync(path);
}

function onPath(command: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
}

/** The ways of starting a server that this machine has, most ordinary first. */
function startCommands(): (() => void)[] {
  const run = (command: string, args: string[]) => () => {
    spawnSync(command, args, { stdio: 'ignore', timeout: START_WAIT_MS });
  };
  const commands: (() => void)[] = [];
  if (onPath('service') && installed('/etc/init.d/mariadb')) commands.push(run('service', ['mariadb', 'start']));
  if (onPath('service') && installed('/etc/init.d/mysql')) commands.push(run('service', ['mysql', 'start']));
  if (onPath('start-stop-daemon') && installed('/usr/sbin/mariadbd')) {
    commands.push(run('start-stop-daemon', ['--start', '--oknodo', '--background', '--exec', '/usr/sbin/mariadbd']));
  }
  if (onPath('mysqld_safe')) {
    commands.push(() => spawn('mysqld_safe', [], { detached: true, stdio: 'ignore' }).unref());
  }
  return commands;
}

async function answersWithin(ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await answers()) return true;
    await sleep(250);
  }
  return false;
}

/** Drops the test databases of runs that began over an hour ago: those runs died before dropping them. */
async function sweepLeftovers(): Promise<void> {
  await admin(async (connection) => {
    const [rows] = await connection.query<RowDataPacket[]>("SHOW DATABASES LIKE 'mixtape\\_test\\_%'");
    for (const row of rows) {
      const name = String(Object.values(row)[0]);
      const started = /^mixtape_test_([0-9a-z]+)_/.exec(name)?.[1];
      if (started === undefined || Date.now() - parseInt(started, 36) < LEFTOVER_AGE_MS) continue;
      await connection.query(`DROP DATABASE IF EXISTS \`${name}\``);
    }
  });
}
