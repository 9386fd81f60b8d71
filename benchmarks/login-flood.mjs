// A flood of logins against a real Mixtape server on loopback: how long a 2 MiB file download
// and /livez take while 200 logins are in flight. scrypt runs on libuv's thread pool, which
// also reads every file, so unbounded hashing starves downloads.
//
// baseline:  the old cost (scrypt N=2^15) and no gate: every login hashes at once.
// candidate: Mixtape's way: OWASP's cost (N=2^17) behind the HashGate (2 at once, 8 waiting,
//            the rest answered 503 with Retry-After at once).
//
// Each server runs in its own child process, so that the flooding client here cannot slow the
// server's event loop and blur what is measured. The server package is not a dependency of the
// benchmarks (adding one would change the lockfile); its build is imported by path.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEMO_TRACKS, HashGate, parseConfig, PasswordHasher } from '@mixtape/core';

const SERVER_BUILD = new URL('../packages/server/dist/index.js', import.meta.url);
const FILE_BYTES = 2 * 1024 * 1024;
const FLOOD_LOGINS = 200;
const TRACK_ID = DEMO_TRACKS[0].id;
const USERNAME = 'flood.bench';
const PASSWORD = 'a long enough password';

/** Serves the same 2 MiB for any track id: the audio origin the server downloads from. */
function startOrigin() {
  const body = randomBytes(FILE_BYTES);
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': body.length }).end(body);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** In the child: one server of the given variant; prints its URL as the first line. */
async function serveVariant(variant, sourceUrl) {
  const { startServer, createLogger } = await import(SERVER_BUILD);
  const dataDir = await mkdtemp(join(tmpdir(), 'mixtape-bench-flood-'));
  const config = parseConfig({
    MIXTAPE_PORT: '0',
    MIXTAPE_DATA_DIR: dataDir,
    MIXTAPE_JWT_SECRET: randomBytes(32).toString('base64url'),
    MIXTAPE_SOURCE_URL: sourceUrl,
    // The flood is the point: no rate limit may stop it first.
    MIXTAPE_RATE_LIMITS: 'global=1000000/1m,login=1000000/15m,login-ip=1000000/1d,download=1000/1m',
  });
  // A gate far wider than libuv's pool of 4 is no gate at all: every login queues for a thread.
  const options = variant === 'baseline' ? { hasher: new PasswordHasher({ N: 2 ** 15, r: 8, p: 1 }, new HashGate({ concurrency: 10_000 })) } : {};
  const running = await startServer(config, createLogger({ level: 'silent' }), options);
  process.stdout.write(`${JSON.stringify({ url: running.url })}\n`);
  // The parent closes stdin when it is done.
  process.stdin.resume();
  process.stdin.on('end', async () => {
    await running.close();
    await rm(dataDir, { recursive: true, force: true });
    process.exit(0);
  });
}

async function startChild(variant, sourceUrl) {
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), variant, sourceUrl], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  const [line] = await Promise.race([
    once(createInterface({ input: child.stdout }), 'line'),
    exited.then(([code]) => Promise.reject(new Error(`the ${variant} server exited with ${code}`))),
  ]);
  const { url } = JSON.parse(line);
  return {
    url,
    api: `${url}/api/v1`,
    async stop() {
      child.stdin.end();
      await exited;
    },
  };
}

async function post(url, body, token) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: await response.json().catch(() => undefined) };
}

/** A signed-in user holding the 2 MiB track in their library. */
async function prepare(server) {
  const registered = await post(`${server.api}/auth/register`, { username: USERNAME, password: PASSWORD });
  if (registered.status !== 201) throw new Error(`register: ${registered.status}`);
  const { accessToken } = (await post(`${server.api}/auth/login`, { username: USERNAME, password: PASSWORD })).body;
  const job = (await post(`${server.api}/downloads`, { track: TRACK_ID }, accessToken)).body;
  for (let status = job.status; status !== 'completed'; ) {
    if (status === 'failed' || status === 'cancelled') throw new Error(`the download ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    status = (await (await fetch(`${server.api}/downloads/${job.id}`, { headers: { authorization: `Bearer ${accessToken}` } })).json()).status;
  }
  return accessToken;
}

async function timed(work) {
  const started = performance.now();
  await work();
  return performance.now() - started;
}

const download = (server, token) =>
  timed(async () => {
    const response = await fetch(`${server.api}/library/${TRACK_ID}/file`, { headers: { authorization: `Bearer ${token}` } });
    const bytes = (await response.arrayBuffer()).byteLength;
    if (response.status !== 200 || bytes !== FILE_BYTES) throw new Error(`download: ${response.status}, ${bytes} bytes`);
  });

const livez = (server) =>
  timed(async () => {
    const response = await fetch(`${server.url}/livez`);
    await response.arrayBuffer();
    if (response.status !== 200) throw new Error(`/livez: ${response.status}`);
  });

/** Repeats `probe` one after another until `done` settles; the time of each. */
async function probeUntil(done, probe) {
  let finished = false;
  done.finally(() => (finished = true));
  const samples = [];
  while (!finished) samples.push(await probe());
  return samples;
}

function percentile(samples, p) {
  const sorted = [...samples].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? Number.NaN;
}

/** `FLOOD_LOGINS` logins at once, `rounds` times, with downloads and /livez probed meanwhile. */
async function flood(server, token, rounds) {
  const downloads = [];
  const probes = [];
  let ok = 0;
  let shed = 0;
  let seconds = 0;
  for (let round = 0; round < rounds; round += 1) {
    const started = performance.now();
    const logins = Promise.all(
      Array.from({ length: FLOOD_LOGINS }, () =>
        post(`${server.api}/auth/login`, { username: USERNAME, password: PASSWORD }).then((r) => {
          if (r.status === 200) ok += 1;
          else if (r.status === 503) shed += 1;
          else throw new Error(`login: ${r.status}`);
        }),
      ),
    );
    const [, d, l] = await Promise.all([logins, probeUntil(logins, () => download(server, token)), probeUntil(logins, () => livez(server))]);
    seconds += (performance.now() - started) / 1000;
    downloads.push(...d);
    probes.push(...l);
  }
  return { downloads, probes, ok, shed, seconds };
}

/** Successful logins per second with `clients` logging in one after another, none shed. */
async function loginRate(server, clients, seconds) {
  const until = performance.now() + seconds * 1000;
  let ok = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (performance.now() < until) {
        const r = await post(`${server.api}/auth/login`, { username: USERNAME, password: PASSWORD });
        if (r.status !== 200) throw new Error(`login: ${r.status}`);
        ok += 1;
      }
    }),
  );
  return ok / ((performance.now() - started) / 1000);
}

async function measure(variant, sourceUrl, { quick }) {
  const server = await startChild(variant, sourceUrl);
  try {
    const token = await prepare(server);
    const idleDownloads = [];
    const idleProbes = [];
    for (let i = 0; i < (quick ? 5 : 20); i += 1) {
      idleDownloads.push(await download(server, token));
      idleProbes.push(await livez(server));
    }
    const flooded = await flood(server, token, quick ? 1 : 3);
    // 4 clients fit in the gate's queue, so the rate is what hashing allows, nothing shed.
    const perSecond = await loginRate(server, 4, quick ? 2 : 5);
    return {
      idle: { downloadP99: percentile(idleDownloads, 99), livezP99: percentile(idleProbes, 99) },
      flood: {
        downloadP99: percentile(flooded.downloads, 99),
        livezP99: percentile(flooded.probes, 99),
        downloads: flooded.downloads.length,
        probes: flooded.probes.length,
        ok: flooded.ok,
        shed: flooded.shed,
        seconds: flooded.seconds,
      },
      loginsPerSecond: perSecond,
    };
  } finally {
    await server.stop();
  }
}

export async function loginFlood({ quick }) {
  const origin = await startOrigin();
  const sourceUrl = `http://127.0.0.1:${origin.address().port}/audio/{id}`;
  try {
    const baseline = await measure('baseline', sourceUrl, { quick });
    const candidate = await measure('candidate', sourceUrl, { quick });
    const row = (variant, m) => ({
      variant,
      'idle download p99 ms': m.idle.downloadP99,
      'flood download p99 ms': m.flood.downloadP99,
      'idle /livez p99 ms': m.idle.livezP99,
      'flood /livez p99 ms': m.flood.livezP99,
      'samples (downloads, /livez)': `${m.flood.downloads}, ${m.flood.probes}`,
      'logins 200 / 503': `${m.flood.ok} / ${m.flood.shed}`,
      'flood s': m.flood.seconds,
      'logins/s': m.loginsPerSecond,
    });
    return {
      name: `${FLOOD_LOGINS} logins at once (${quick ? 1 : 3} round${quick ? '' : 's'}), 2 MiB downloads and /livez probed meanwhile, each server in its own process`,
      rows: [row('baseline: scrypt N=2^15, no gate', baseline), row('mixtape: scrypt N=2^17, gate of 2 + 8', candidate)],
      ratios: {
        'download p99 during the flood, baseline / mixtape': baseline.flood.downloadP99 / candidate.flood.downloadP99,
        '/livez p99 during the flood, baseline / mixtape': baseline.flood.livezP99 / candidate.flood.livezP99,
        'logins per second, mixtape / baseline': candidate.loginsPerSecond / baseline.loginsPerSecond,
      },
    };
  } finally {
    origin.close();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [variant, sourceUrl] = process.argv.slice(2);
  await serveVariant(variant, sourceUrl);
}
