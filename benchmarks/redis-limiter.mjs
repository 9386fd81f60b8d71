// A protected route under a steady load: what the Redis rate limiter costs. The route is
// GET /api/v1/tracks/search?q=… (JWT bearer check, the global limiter per address, the search
// limiter per user, Joi validation of the query, a search of the demo catalog), on the real
// server built from packages/server/dist, each variant in its own child process:
//
// baseline:  no limiter at work: the same server on SQLite, whose rate limit stores count
//            nothing and answer at once (express-rate-limit still runs, with nothing to ask;
//            taking the middleware out would mean editing the app for a benchmark).
// in-process: the embedded default, without MIXTAPE_REDIS_URL: counts in this process's memory.
// candidate: MIXTAPE_REDIS_URL set, on a redis-server this benchmark starts on a free port (so
//            that no one else's commands are counted): limits, revocations and job events in
//            Redis, as every instance of a deployment would run.
//
// The three servers run side by side, and take turns under the same load: the same number of
// keep-alive connections, each sending its next request when the last is answered, for the
// same time; limits are roomy, so every answer must be 200. Then, on the Redis no one else
// uses, MONITOR watches a fixed number of requests sent one at a time: each command a client
// sends is a round trip (one at a time, no two requests share a write), and the commands a
// Lua script runs inside Redis are counted apart. What the server sends on its own over as
// long an idle spell is taken off. The goals: throughput at least 0.8 of the baseline,
// at most two round trips a request. The CPU time each server process (and redis-server) spent
// is read from /proc: on a busy machine, throughput says as much about the scheduler as about
// the code, while CPU per request does not.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { createServer, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { cpuSecondsOf } from './cpu-time.mjs';

// Imported by path, as the login flood does: the server is not a dependency of the benchmarks.
const SERVER_BUILD = new URL('../packages/server/dist/index.js', import.meta.url);
const CORE_BUILD = new URL('../packages/core/dist/index.js', import.meta.url);
const SQLITE_BUILD = new URL('../packages/core/dist/sqlite.js', import.meta.url);
const CONNECTIONS = 8;
const USERNAME = 'limiter.bench';
const PASSWORD = 'a long enough password';
// Counted, never reached: every request passes both limiters.
const ROOMY = 'global=1000000/1m,search=1000000/1m,login=1000/15m,login-ip=100000/1d,register=1000/1h';

const VARIANTS = {
  'no-count': 'baseline: no limiter at work (stores count nothing)',
  'in-process': 'in-process limiter (no Redis)',
  redis: 'mixtape: Redis limiter (MIXTAPE_REDIS_URL)',
};

/** Stores that count nothing: the limiter middleware runs, but no store work is done. */
const noCountStores = {
  backend: 'none',
  storeFor: () => ({
    localKeys: true,
    increment: () => ({ totalHits: 1, resetTime: undefined }),
    decrement: () => undefined,
    resetKey: () => undefined,
  }),
};

/** In the child: one server of the given variant; prints its URL as the first line. */
async function serveVariant(variant, redisUrl) {
  const { startServer, createLogger } = await import(SERVER_BUILD);
  const { HashGate, parseConfig, PasswordHasher } = await import(CORE_BUILD);
  const dataDir = await mkdtemp(join(tmpdir(), 'mixtape-bench-limiter-'));
  const config = parseConfig({
    MIXTAPE_PORT: '0',
    MIXTAPE_DATA_DIR: dataDir,
    MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'),
    MIXTAPE_RATE_LIMITS: ROOMY,
    MIXTAPE_WORKERS: '0',
    ...(variant === 'redis' ? { MIXTAPE_REDIS_URL: redisUrl } : {}),
  });
  // Logging in is not what is measured: a cheap hash, as the test server uses.
  const options = { hasher: new PasswordHasher({ N: 1024, r: 8, p: 1 }, new HashGate()) };
  if (variant === 'no-count') {
    // The embedded backends the server would open, with the stores swapped; startServer hands
    // `backends` on to mixtapeFromConfig, which uses given backends instead of opening its own.
    const { openSqliteBackends } = await import(SQLITE_BUILD);
    options.backends = { ...(await openSqliteBackends({ dataDir, migrate: true })), rateLimitStores: noCountStores };
  }
  const running = await startServer(config, createLogger({ level: 'silent' }), options);
  process.stdout.write(`${JSON.stringify({ url: running.url, backend: running.mixtape.backends.rateLimitStores.backend ?? '?' })}\n`);
  // The parent closes stdin when it is done.
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await running.close();
    await rm(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
}

async function startChild(variant, redisUrl) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), 'serve', variant, redisUrl ?? ''], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const [line] = await Promise.race([
    once(createInterface({ input: child.stdout }), 'line'),
    exited.then(([code]) => Promise.reject(new Error(`the ${variant} server exited with ${code}`))),
  ]);
  const { url, backend } = JSON.parse(line);
  return {
    url,
    backend,
    pid: child.pid,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

/** A redis-server of this benchmark's own on a free port, nothing persisted. */
async function startRedis() {
  const port = await freePort();
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--loglevel', 'warning'], {
    stdio: 'ignore',
  });
  const deadline = Date.now() + 10_000;
  while (!(await accepts(port))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
    if (Date.now() > deadline) throw new Error('redis-server did not start');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    pid: child.pid,
    async stop() {
      const exit = once(child, 'exit');
      child.kill('SIGKILL');
      await exit;
    },
  };
}

async function freePort() {
  const server = createServer().listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  server.close();
  await once(server, 'close');
  return port;
}

function accepts(port) {
  return new Promise((resolve) => {
    const socket = new Socket();
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
    socket.connect(port, '127.0.0.1');
  });
}

/**
 * Every command Redis runs while `work` runs, seen through MONITOR on a bare socket (the
 * benchmarks have no Redis client of their own). MONITOR tells a client's command from one a
 * Lua script ran (`[0 lua]`), so round trips (a client's commands) and the commands inside
 * scripts are counted apart, which INFO commandstats cannot do.
 */
async function monitored(port, work) {
  const socket = new Socket();
  socket.connect(port, '127.0.0.1');
  await once(socket, 'connect');
  socket.setEncoding('utf8');
  let buffered = '';
  const sent = {};
  const inScripts = {};
  let ready;
  const started = new Promise((resolve) => (ready = resolve));
  socket.on('data', (chunk) => {
    buffered += chunk;
    const lines = buffered.split('\r\n');
    buffered = lines.pop();
    for (const line of lines) {
      if (line === '+OK') ready();
      const seen = /^\+[\d.]+ \[\d+ ([^\]]+)\] "([^"]+)"/.exec(line);
      if (!seen) continue;
      const counts = seen[1] === 'lua' ? inScripts : sent;
      const command = seen[2].toLowerCase();
      counts[command] = (counts[command] ?? 0) + 1;
    }
  });
  socket.write('MONITOR\r\n');
  await started;
  await work();
  // What was sent before `work` resolved has arrived by the time a PING from here is echoed.
  await new Promise((resolve) => setTimeout(resolve, 50));
  socket.destroy();
  return { sent, inScripts };
}

const sum = (counts) => Object.values(counts).reduce((total, n) => total + n, 0);
const perRequest = (counts, requests) =>
  Object.entries(counts)
    .sort(([, a], [, b]) => b - a)
    .map(([command, n]) => `${command} ${(n / requests).toFixed(2)}`)
    .join(', ') || 'none';

/** One keep-alive GET; its status and time. */
function get(agent, url, token) {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const req = request(url, { agent, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      res.on('end', () => resolve({ status: res.statusCode, ms: performance.now() - started }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

async function post(url, body) {
  const response = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

async function signIn(server) {
  const api = `${server.url}/api/v1`;
  const registered = await post(`${api}/auth/register`, { username: USERNAME, password: PASSWORD });
  if (registered.status !== 201) throw new Error(`register: ${registered.status}`);
  const login = await post(`${api}/auth/login`, { username: USERNAME, password: PASSWORD });
  if (login.status !== 200) throw new Error(`login: ${login.status}`);
  return login.body.accessToken;
}

/** `connections` loops, each sending the next request when the last is answered, for `seconds`. */
async function load(url, token, connections, seconds) {
  const agent = new Agent({ keepAlive: true, maxSockets: connections });
  const latencies = [];
  const statuses = {};
  const started = performance.now();
  const until = started + seconds * 1000;
  await Promise.all(
    Array.from({ length: connections }, async () => {
      while (performance.now() < until) {
        const { status, ms } = await get(agent, url, token);
        statuses[status] = (statuses[status] ?? 0) + 1;
        latencies.push(ms);
      }
    }),
  );
  const elapsed = (performance.now() - started) / 1000;
  agent.destroy();
  return { latencies, statuses, seconds: elapsed };
}

function percentile(samples, p) {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/**
 * Redis round trips per request on `path`: `requests` sent one at a time, so no two requests'
 * commands share a write, less what the server sends on its own (pub/sub, polls) over an idle
 * spell as long.
 */
async function redisRoundTrips(redis, server, token, path, requests) {
  const agent = new Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${server.url}${path}`;
  // Warm: scripts loaded, connections made.
  for (let i = 0; i < 20; i += 1) await get(agent, url, token);
  let busyMs = 0;
  const busy = await monitored(redis.port, async () => {
    const started = performance.now();
    for (let i = 0; i < requests; i += 1) {
      const { status } = await get(agent, url, token);
      if (status !== 200) throw new Error(`${path}: ${status}`);
    }
    busyMs = performance.now() - started;
  });
  agent.destroy();
  const idle = await monitored(redis.port, () => new Promise((resolve) => setTimeout(resolve, busyMs)));
  return {
    perRequest: (sum(busy.sent) - sum(idle.sent)) / requests,
    sent: perRequest(busy.sent, requests),
    inScripts: perRequest(busy.inScripts, requests),
    background: sum(idle.sent),
  };
}

export async function redisLimiter({ quick }) {
  const { DEMO_TRACKS } = await import(CORE_BUILD);
  // A word of a demo title, so that the search finds something.
  const path = `/api/v1/tracks/search?q=${encodeURIComponent(DEMO_TRACKS[0].title.split(' ')[0])}&limit=10`;
  // The machine's other work comes and goes: the variants take turns, in an order reversed each round.
  const seconds = quick ? 2.5 : 2;
  const rounds = quick ? 1 : 6;
  const roundTripRequests = quick ? 100 : 400;
  const redis = await startRedis();
  const servers = {};
  try {
    await Promise.all(Object.keys(VARIANTS).map(async (variant) => (servers[variant] = await startChild(variant, redis.url))));
    // Should startServer stop handing given backends on, the baseline would quietly be the in-process one.
    const expected = { 'no-count': 'none', 'in-process': 'memory', redis: 'redis' };
    for (const [variant, server] of Object.entries(servers)) {
      if (server.backend !== expected[variant]) throw new Error(`the ${variant} server counts in ${server.backend}, not ${expected[variant]}`);
    }
    const tokens = {};
    for (const [variant, server] of Object.entries(servers)) {
      tokens[variant] = await signIn(server);
      await load(`${server.url}${path}`, tokens[variant], CONNECTIONS, quick ? 0.5 : 2); // warm-up: JIT, connections, scripts
    }
    const results = Object.fromEntries(Object.keys(VARIANTS).map((variant) => [variant, { latencies: [], statuses: {}, seconds: 0, serverCpu: 0, redisCpu: 0 }]));
    for (let round = 0; round < rounds; round += 1) {
      const order = round % 2 === 0 ? Object.keys(VARIANTS) : Object.keys(VARIANTS).reverse();
      for (const variant of order) {
        const cpuBefore = [cpuSecondsOf(servers[variant].pid), cpuSecondsOf(redis.pid)];
        const run = await load(`${servers[variant].url}${path}`, tokens[variant], CONNECTIONS, seconds);
        const into = results[variant];
        into.serverCpu += cpuSecondsOf(servers[variant].pid) - cpuBefore[0];
        if (variant === 'redis') into.redisCpu += cpuSecondsOf(redis.pid) - cpuBefore[1];
        into.latencies.push(...run.latencies);
        into.seconds += run.seconds;
        for (const [status, n] of Object.entries(run.statuses)) into.statuses[status] = (into.statuses[status] ?? 0) + n;
      }
    }
    for (const [variant, m] of Object.entries(results)) {
      if (Object.keys(m.statuses).some((status) => status !== '200')) throw new Error(`${variant}: answers other than 200: ${JSON.stringify(m.statuses)}`);
    }
    const trips = await redisRoundTrips(redis, servers.redis, tokens.redis, path, roundTripRequests);
    const perSecond = (m) => m.latencies.length / m.seconds;
    // CPU per request depends far less than throughput on what else the machine runs.
    const cpuMs = (m) => (m.serverCpu * 1000) / m.latencies.length;
    const cpuMsWithRedis = (m) => ((m.serverCpu + m.redisCpu) * 1000) / m.latencies.length;
    const row = (variant) => {
      const m = results[variant];
      return {
        variant: VARIANTS[variant],
        stores: servers[variant].backend,
        'req/s': perSecond(m),
        'p50 ms': percentile(m.latencies, 50),
        'p99 ms': percentile(m.latencies, 99),
        requests: m.latencies.length,
        'server CPU ms/req': cpuMs(m),
        'redis-server CPU ms/req': variant === 'redis' ? m.redisCpu * 1000 / m.latencies.length : '-',
        'Redis round trips/req': variant === 'redis' ? trips.perRequest : '-',
        'sent per req': variant === 'redis' ? trips.sent : '-',
        'run inside scripts per req': variant === 'redis' ? trips.inScripts : '-',
      };
    };
    const [baseline, inProcess, candidate] = [results['no-count'], results['in-process'], results.redis];
    return {
      name:
        `GET ${path.replace(/\?.*/, '?q=…')} (JWT, global and search limiters, Joi), ${CONNECTIONS} keep-alive connections, ` +
        `${rounds} × ${seconds} s each, the variants taking turns, each server in its own process; Redis round trips seen by MONITOR ` +
        `over ${roundTripRequests} requests one at a time (${trips.background} sent in as long idle, taken off)`,
      rows: Object.keys(VARIANTS).map(row),
      ratios: {
        'req/s, Redis limiter / no limiter (goal ≥ 0.8)': perSecond(candidate) / perSecond(baseline),
        'req/s, Redis limiter / in-process limiter': perSecond(candidate) / perSecond(inProcess),
        'p99, Redis limiter / no limiter': percentile(candidate.latencies, 99) / percentile(baseline.latencies, 99),
        'requests per server CPU second, Redis limiter / no limiter': cpuMs(baseline) / cpuMs(candidate),
        'requests per CPU second of server and redis-server, Redis limiter / no limiter': cpuMs(baseline) / cpuMsWithRedis(candidate),
        'Redis round trips per request (goal ≤ 2)': trips.perRequest,
      },
    };
  } finally {
    await Promise.all(Object.values(servers).map((server) => server.stop()));
    await redis.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode, variant, redisUrl] = process.argv.slice(2);
  if (mode === 'serve') {
    await serveVariant(variant, redisUrl);
  } else {
    // Alone: node benchmarks/redis-limiter.mjs [--quick]
    const result = await redisLimiter({ quick: process.argv.includes('--quick') });
    console.log(`\n${result.name}`);
    console.table(result.rows.map((row) => Object.fromEntries(Object.entries(row).map(([k, v]) => [k, typeof v === 'number' ? Number(v.toFixed(2)) : v]))));
    for (const [ratio, value] of Object.entries(result.ratios)) console.log(`  ${ratio}: ${value.toFixed(2)}`);
  }
}
