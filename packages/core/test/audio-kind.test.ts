import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { audioContentType } from '../src/downloads/audio-kind.js';
import { createMixtape, DEMO_TRACKS, HttpTrackSource, JwtKeyring, PasswordHasher, type Mixtape } from '../src/index.js';
import { openSqliteBackends } from '../src/sqlite.js';
import { startOrigin, type TestOrigin } from './support/origin.js';

const bytes = (...parts: Array<string | number[]>) =>
  Buffer.concat(parts.map((part) => (typeof part === 'string' ? Buffer.from(part, 'latin1') : Buffer.from(part))));

describe('audioContentType', () => {
  it('tells each supported kind from its signature', () => {
    const cases: Array<[Buffer, string]> = [
      [bytes('RIFF', [0x24, 0, 0, 0], 'WAVE', 'fmt '), 'audio/wav'],
      [bytes('ID3', [4, 0, 0, 0, 0, 0, 0]), 'audio/mpeg'],
      // MPEG-1 Layer III, and MPEG-2 Layer III, frame headers without an ID3 tag.
      [bytes([0xff, 0xfb, 0x90, 0x64]), 'audio/mpeg'],
      [bytes([0xff, 0xf3, 0x48, 0xc4]), 'audio/mpeg'],
      [bytes('fLaC', [0, 0, 0, 0x22]), 'audio/flac'],
      [bytes('OggS', [0, 2, 0, 0]), 'audio/ogg'],
      [bytes([0, 0, 0, 0x20], 'ftyp', 'M4A '), 'audio/mp4'],
    ];
    for (const [head, type] of cases) expect(audioContentType(head), head.toString('hex')).toBe(type);
  });

  it('calls anything else application/octet-stream, whatever it resembles', () => {
    const cases = [
      bytes(''),
      bytes('RIF'),
      bytes('RIFF', [0, 0, 0, 0], 'AVI '),
      bytes('<!doctype html><html>'),
      bytes('%PDF-1.7'),
      bytes('ID'),
      // ADTS AAC (layer 00) and a reserved MPEG version are not MPEG audio frames.
      bytes([0xff, 0xf1, 0x50, 0x80]),
      bytes([0xff, 0xeb, 0x90, 0x64]),
      bytes([0xff]),
    ];
    for (const head of cases) expect(audioContentType(head), head.toString('hex')).toBe('application/octet-stream');
  });
});

/**
 * Through the download path: whatever the origin claims, the stored type is the one the bytes
 * say. The origin is a real HTTP server; the database and the files are the embedded ones.
 */
describe('the stored content type of a download', () => {
  const [wavTrack, htmlTrack, mpegTrack] = DEMO_TRACKS as [(typeof DEMO_TRACKS)[0], (typeof DEMO_TRACKS)[0], (typeof DEMO_TRACKS)[0]];
  const plans = new Map<string, { body: Buffer; contentType: string }>([
    // A WAV the origin calls HTML: served as HTML, a browser would run what it finds in it.
    [wavTrack.id, { body: bytes('RIFF', [0, 0, 0, 0], 'WAVE', randomBytes(4000).toString('latin1')), contentType: 'text/html' }],
    // Bytes of no known kind that the origin calls audio.
    [htmlTrack.id, { body: bytes('<html><script>alert(1)</script></html>'), contentType: 'audio/mpeg' }],
    [mpegTrack.id, { body: bytes('ID3', [4, 0, 0, 0, 0, 0, 0], randomBytes(4000).toString('latin1')), contentType: 'application/x-whatever' }],
  ]);
  let origin: TestOrigin | undefined;
  let dataDir: string;
  let mixtape: Mixtape;

  beforeAll(async () => {
    origin = await startOrigin((req, res) => {
      const plan = plans.get(decodeURIComponent(req.url?.split('/').pop() ?? ''));
      if (!plan) return void res.writeHead(404).end();
      res.writeHead(200, { 'content-type': plan.contentType, 'content-length': plan.body.length }).end(plan.body);
    });
    dataDir = mkdtempSync(join(tmpdir(), 'mixtape-audio-kind-'));
    const backends = await openSqliteBackends({ dataDir, source: new HttpTrackSource({ urlTemplate: origin.url }) });
    mixtape = createMixtape(backends, {
      keyring: JwtKeyring.ephemeral(),
      hasher: new PasswordHasher({ N: 1024, r: 8, p: 1 }),
      quotaBytes: 10 * 1024 ** 2,
      maxTrackBytes: 1024 ** 2,
      maxAttempts: 1,
      retryBaseMs: 10,
      jobLeaseMs: 30_000,
      workers: 1,
      workerPollIntervalMs: 20,
    });
    mixtape.start();
  });

  afterAll(async () => {
    await mixtape?.close();
    await origin?.stop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  async function downloadedType(trackId: string, userId: string): Promise<string | undefined> {
    const job = await mixtape.downloads.request(userId, trackId);
    const deadline = Date.now() + 10_000;
    for (;;) {
      const current = await mixtape.backends.queue.get(job.id);
      if (current?.status === 'completed') break;
      if (current?.status === 'failed' || Date.now() > deadline) throw new Error(`job ${current?.status}: ${JSON.stringify(current?.error)}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return (await mixtape.library.file(userId, trackId)).audio.contentType;
  }

  it('is told from the bytes, never taken from the origin\'s Content-Type', async () => {
    const user = await mixtape.auth.register('sniffer', 'correct horse battery');
    expect(await downloadedType(wavTrack.id, user.id)).toBe('audio/wav');
    expect(await downloadedType(htmlTrack.id, user.id)).toBe('application/octet-stream');
    expect(await downloadedType(mpegTrack.id, user.id)).toBe('audio/mpeg');
  });
});
