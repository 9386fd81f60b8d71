// Queue throughput: 8 workers claiming, then completing, empty jobs until none is left, and
// how many jobs were claimed more than once (each must be completed exactly once).
//
// baseline:  BullMQ on the machine's Redis (MIXTAPE_BENCH_REDIS_URL, default
//            redis://127.0.0.1:6379): 8 Workers of concurrency 1 with an empty processor, the
//            way BullMQ is run; a queue of its own, with a random name, obliterated afterwards.
// candidate: Mixtape's MysqlJobQueue on MariaDB (MIXTAPE_BENCH_MYSQL_URL, default
//            mysql://root@127.0.0.1:3306): 8 loops of claim then complete, each on its own
//            pooled connection, in a database of its own (mixtape_bench_<run>), dropped
//            afterwards; those of runs that died are dropped once an hour old.
//
// Per job, BullMQ's worker makes about one call to Redis: completing a job runs one Lua script
// that also takes the next one. Mixtape's claim is a transaction of four statements (START,
// SELECT … FOR UPDATE SKIP LOCKED, UPDATE, COMMIT) and its completion one UPDATE: five round
// trips and two durable commits.
//
// Both queues are filled before the clock starts (Mixtape's through enqueue, from 50 users,
// as requests make them; BullMQ's with addBulk), and both keep completed jobs. The CPU time
// the database server and this process spent is read from /proc, to say where the time went.
// The goal: at least 1,000 jobs/s on MariaDB, with no double claim.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { timedWithCpu } from './cpu-time.mjs';
import { createMysqlPool, migrateMysql, MysqlDatabase, MysqlJobQueue } from '@mixtape/core/mysql';
import { Queue, Worker } from 'bullmq';

const WORKERS = 8;
const USERS = 50;
const LEASE_MS = 30_000;
const MYSQL_URL = process.env.MIXTAPE_BENCH_MYSQL_URL ?? 'mysql://root@127.0.0.1:3306';
const REDIS_URL = process.env.MIXTAPE_BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379';
const DATABASE_PREFIX = 'mixtape_bench_';
const LEFTOVER_AGE_MS = 60 * 60 * 1000;

/** The pid of a local server by its program's name, when it runs on this machine. */
function pidOf(...names) {
  for (const name of names) {
    try {
      const pid = Number(execFileSync('pidof', ['-s', name], { encoding: 'utf8' }).trim());
      if (pid > 0) return pid;
    } catch {
      // not running under this name
    }
  }
  return undefined;
}

/** Runs `work`, timing it and measuring the CPU the server and this process used meanwhile. */
async function measured(serverPid, work) {
  const { result, seconds, ownCpu, serverCpu } = await timedWithCpu(serverPid, work);
  return { ...result, seconds, serverCpu: serverCpu / seconds, clientCpu: ownCpu / seconds };
}

const doubleClaims = (claimed) => claimed.length - new Set(claimed).size;

/** A MysqlDatabase on the server itself, with no database chosen, for CREATE and DROP. */
function serverDatabase() {
  const url = new URL(MYSQL_URL);
  url.pathname = '/';
  return new MysqlDatabase(createMysqlPool(url.href, { poolSize: 1 }));
}

async function sweepLeftovers(server) {
  for (const row of await server.all("SHOW DATABASES LIKE 'mixtape\\_bench\\_%'")) {
    const name = String(Object.values(row)[0]);
    const started = /^mixtape_bench_([0-9a-z]+)_/.exec(name)?.[1];
    if (started !== undefined && Date.now() - parseInt(started, 36) > LEFTOVER_AGE_MS) await server.run(`DROP DATABASE IF EXISTS \`${name}\``);
  }
}

async function mixtapeOnMariadb(jobs) {
  const server = serverDatabase();
  const name = `${DATABASE_PREFIX}${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  try {
    await sweepLeftovers(server);
    await server.run(`CREATE DATABASE \`${name}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`);
    const url = new URL(MYSQL_URL);
    url.pathname = `/${name}`;
    const db = new MysqlDatabase(createMysqlPool(url.href, { poolSize: WORKERS }));
    try {
      await migrateMysql(db);
      const queue = new MysqlJobQueue(db);
      let next = 0;
      await Promise.all(
        Array.from({ length: WORKERS }, async () => {
          for (let i = next++; i < jobs; i = next++) {
            const outcome = await queue.enqueue({ userId: `user-${i % USERS}`, trackId: `track-${i}`, maxAttempts: 3, maxActive: jobs });
            if (outcome.kind !== 'enqueued') throw new Error(`enqueue: ${outcome.kind}`);
          }
        }),
      );
      // Every worker's connection open before the clock starts.
      await Promise.all(Array.from({ length: WORKERS }, () => db.get('SELECT SLEEP(0.05)')));
      const run = await measured(pidOf('mariadbd', 'mysqld'), async () => {
        const claimed = [];
        let refused = 0;
        await Promise.all(
          Array.from({ length: WORKERS }, async (_, worker) => {
            const workerId = `bench-worker-${worker}`;
            for (let lease = await queue.claim(workerId, LEASE_MS); lease; lease = await queue.claim(workerId, LEASE_MS)) {
              claimed.push(lease.job.id);
              if (!(await queue.complete(lease.job.id, lease.token))) refused += 1;
            }
          }),
        );
        return { claimed, refused };
      });
      const counts = await queue.countByStatus();
      return { ...run, completed: counts.completed, left: counts.queued + counts.running };
    } finally {
      await db.close();
    }
  } finally {
    await server.run(`DROP DATABASE IF EXISTS \`${name}\``).catch(() => {});
    await server.close();
  }
}

async function bullmqOnRedis(jobs) {
  const url = new URL(REDIS_URL);
  // BullMQ's workers block on Redis; it asks for no retry limit on their commands.
  const connection = { host: url.hostname, port: Number(url.port || 6379), db: Number(url.pathname.slice(1) || 0), maxRetriesPerRequest: null };
  const name = `mixtape-bench-${randomBytes(6).toString('hex')}`;
  const queue = new Queue(name, { connection });
  try {
    for (let i = 0; i < jobs; i += 1000) {
      await queue.addBulk(Array.from({ length: Math.min(1000, jobs - i) }, (_, k) => ({ name: 'empty', data: { track: `track-${i + k}` } })));
    }
    const claimed = [];
    let completed = 0;
    let allDone;
    const done = new Promise((resolve) => (allDone = resolve));
    const workers = Array.from({ length: WORKERS }, () => {
      const worker = new Worker(name, async (job) => void claimed.push(job.id), { connection, concurrency: 1, autorun: false });
      worker.on('completed', () => {
        completed += 1;
        if (completed === jobs) allDone();
      });
      return worker;
    });
    await Promise.all(workers.map((worker) => worker.waitUntilReady()));
    try {
      const run = await measured(pidOf('redis-server'), async () => {
        for (const worker of workers) worker.run();
        await done;
        return { claimed, refused: 0 };
      });
      const counts = await queue.getJobCounts();
      return { ...run, completed: counts.completed, left: counts.waiting + counts.active + counts.delayed + counts.failed };
    } finally {
      await Promise.all(workers.map((worker) => worker.close()));
    }
  } finally {
    await queue.obliterate({ force: true }).catch(() => {});
    await queue.close();
  }
}

export async function queueThroughput({ quick }) {
  const jobs = quick ? 2000 : 20_000;
  const baseline = await bullmqOnRedis(jobs);
  const candidate = await mixtapeOnMariadb(jobs);
  const row = (variant, m) => ({
    variant,
    jobs: m.claimed.length,
    's': m.seconds,
    'jobs/s': m.claimed.length / m.seconds,
    'double claims': doubleClaims(m.claimed),
    'refused completes': m.refused,
    'completed / left': `${m.completed} / ${m.left}`,
    'server CPU (cores)': m.serverCpu,
    'bench CPU (cores)': m.clientCpu,
  });
  for (const [variant, m] of [['BullMQ', baseline], ['Mixtape', candidate]]) {
    if (m.completed !== jobs || m.left !== 0 || doubleClaims(m.claimed) !== 0 || m.refused !== 0) {
      console.warn(`  ${variant}: not every job was completed exactly once`);
    }
  }
  const perSecond = (m) => m.claimed.length / m.seconds;
  return {
    name: `${jobs} empty jobs, ${WORKERS} workers claiming then completing until none is left (goal: >= 1,000 jobs/s on MariaDB, no double claim)`,
    rows: [row('baseline: BullMQ on Redis', baseline), row('mixtape: MysqlJobQueue on MariaDB', candidate)],
    ratios: { 'jobs per second, mixtape / BullMQ': perSecond(candidate) / perSecond(baseline) },
  };
}

// `node benchmarks/queue-throughput.mjs [--quick]`: this benchmark alone.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const result = await queueThroughput({ quick: process.argv.includes('--quick') });
  console.log(`\n${result.name}`);
  console.table(result.rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toFixed(2)) : v]))));
  for (const [ratio, value] of Object.entries(result.ratios)) console.log(`  ${ratio}: ${value.toFixed(2)}`);
}
