// Fetching a large track: buffering the whole body (the naive way) against Mixtape's
// HttpTrackSource + storeStream into the LocalBlobStore, which streams through a temp file.
// Both fetch the same bytes from a local origin in the same run, each in a fresh child process
// so that one's memory cannot hide the other's.
import { spawnSync } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { HttpTrackSource, LocalBlobStore, storeStream } from '@mixtape/core';

const CHUNK = Buffer.alloc(64 * 1024, 7);

function startOrigin(sizeBytes) {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'audio/mpeg', 'content-length': sizeBytes });
    let sent = 0;
    const pump = () => {
      while (sent < sizeBytes) {
        const piece = CHUNK.subarray(0, Math.min(CHUNK.length, sizeBytes - sent));
        sent += piece.length;
        if (!res.write(piece)) return void res.once('drain', pump);
      }
      res.end();
    };
    pump();
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

/** Peak resident memory above the level at the start, sampled every 5 ms while `work` runs. */
async function measure(work) {
  globalThis.gc?.();
  const base = process.memoryUsage().rss;
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, process.memoryUsage().rss);
  }, 5);
  const started = performance.now();
  await work();
  const seconds = (performance.now() - started) / 1000;
  clearInterval(sampler);
  peak = Math.max(peak, process.memoryUsage().rss);
  return { peakMiB: (peak - base) / 1024 ** 2, seconds };
}

const VARIANTS = {
  /** The naive way: the whole body in memory, then one write. */
  async baseline(url, dir) {
    const response = await fetch(url.replace('{id}', 'x'));
    const body = Buffer.from(await response.arrayBuffer());
    await writeFile(join(dir, 'buffered.bin'), body);
    return body.length;
  },
  /** Mixtape's way: streamed into a temp file, hashed, fsynced and renamed. */
  async mixtape(url, dir) {
    const store = new LocalBlobStore({ root: join(dir, 'store') });
    await store.start();
    const stream = await new HttpTrackSource({ urlTemplate: url }).open('x', new AbortController().signal);
    return (await storeStream(store, stream.body, { maxBytes: Number.MAX_SAFE_INTEGER })).sizeBytes;
  },
};

/** Runs one variant in this process (a child of the runner, so each starts from a clean heap). */
async function runVariant(variant, sizeBytes) {
  const origin = await startOrigin(sizeBytes);
  const url = `http://127.0.0.1:${origin.address().port}/audio/{id}`;
  const dir = await mkdtemp(join(tmpdir(), 'mixtape-bench-'));
  try {
    let stored = 0;
    const result = await measure(async () => {
      stored = await VARIANTS[variant](url, dir);
    });
    if (stored !== sizeBytes) throw new Error(`${variant} stored ${stored} of ${sizeBytes} bytes`);
    return result;
  } finally {
    origin.close();
    await rm(dir, { recursive: true, force: true });
  }
}

function inChild(variant, sizeBytes) {
  const child = spawnSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), variant, String(sizeBytes)], {
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`${variant} failed: ${child.stderr}`);
  return JSON.parse(child.stdout);
}

export async function streamingMemory({ quick }) {
  const sizeBytes = (quick ? 64 : 256) * 1024 ** 2;
  const baseline = inChild('baseline', sizeBytes);
  const candidate = inChild('mixtape', sizeBytes);
  return {
    name: `fetch and store a ${sizeBytes / 1024 ** 2} MiB track (each variant in a fresh process)`,
    rows: [
      { variant: 'baseline: buffer the body, then write', ...baseline },
      { variant: 'mixtape: stream, hash, fsync, rename', ...candidate },
    ],
    ratios: {
      'peak memory, baseline / mixtape': baseline.peakMiB / Math.max(1, candidate.peakMiB),
      'time, mixtape / baseline': candidate.seconds / baseline.seconds,
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [variant, size] = process.argv.slice(2);
  process.stdout.write(JSON.stringify(await runVariant(variant, Number(size))));
}
