import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BlobStore } from '@mixtape/core';
import { call, signUp, startTestServer, waitForJob, type TestServer } from './support/test-server.js';
import { expectProblem } from './support/http-expectations.js';
import {
  deterministicBytes,
  sha256,
  startAudioOrigin,
  originEnv,
  startSpotifyStub,
  trackId,
  type AudioOrigin,
  type SpotifyStub,
  type StubTrack,
} from './support/origin-servers.js';

/**
 * What a stored file's response says about it, and what happens when serving it goes wrong:
 * names from hostile titles, the type from the bytes, ranges, and errors mid-stream.
 */

const MiB = 1024 * 1024;

/** Bytes that begin with a format's signature, then look random. */
function audioBytes(signature: Buffer, seed: string, size: number): Buffer {
  const bytes = deterministicBytes(seed, size);
  signature.copy(bytes, 0);
  return bytes;
}
const ID3 = Buffer.from('ID3\u0004\u0000\u0000\u0000\u0000\u0000\u0000', 'latin1');
const WAVE = Buffer.from('RIFF\u0000\u0000\u0000\u0000WAVEfmt ', 'latin1');

function track(label: string, extra: Partial<StubTrack> = {}): StubTrack {
  return { id: trackId(label), name: `Song ${label}`, artists: ['Artist'], album: 'Album', durationMs: 60_000, ...extra };
}

// "A - " is 4 UTF-16 units: the note's high surrogate is unit 150, where the old cut fell.
const EMOJI_AT_CUT = track('emoji-at-cut', { name: `${'x'.repeat(145)}\u{1f3b5} and the rest`, artists: ['A'] });
const BIDI = track('bidi', {
  name: 'Song\u202egnp.exe\u202c \u2066iso\u2069 \u200e\u200f\u061cmarks c1\u0085\u009b\u0080end',
  artists: ['Ctrl\u0090Artist'],
});
const WAV_CALLED_HTML = track('wav-called-html');
const NOISE_CALLED_MPEG = track('noise-called-mpeg');
const BIG = track('big');
const VANISHING = track('vanishing');

const UNSAFE = /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\p{Cs}/u;

interface LogLine {
  level: number;
  msg?: string;
  err?: { code?: string; message?: string };
}

describe('file responses', () => {
  let spotify: SpotifyStub;
  let origin: AudioOrigin;
  let server: TestServer;
  let token: string;
  const wavBytes = audioBytes(WAVE, 'wav', 50_000);
  const bigBytes = audioBytes(ID3, 'big', 16 * MiB);
  const vanishingBytes = audioBytes(ID3, 'vanishing', 20_000);

  const file = (id: string, headers: Record<string, string> = {}, init: RequestInit = {}) =>
    fetch(`${server.api}/library/${id}/file`, { ...init, headers: { authorization: `Bearer ${token}`, ...headers } });

  const logsFrom = (start: number): LogLine[] => server.logs.slice(start).map((line) => JSON.parse(line) as LogLine);
  const errorsFrom = (start: number) => logsFrom(start).filter((line) => line.level >= 50);

  async function download(id: string): Promise<void> {
    const job = await call(`${server.api}/downloads`, { token, body: { track: id } });
    const done = await waitForJob(server, token, job.body.id);
    if (done.status !== 'completed') throw new Error(`download of ${id} ended ${done.status}`);
  }

  /** The exact name a Content-Disposition header gives, from filename* when it has one. */
  function exactName(header: string): string {
    const encoded = /filename\*=UTF-8''([^;]+)/.exec(header)?.[1];
    return encoded === undefined ? (/filename="?([^";]*)/.exec(header)?.[1] ?? '') : decodeURIComponent(encoded);
  }

  beforeAll(async () => {
    spotify = await startSpotifyStub([EMOJI_AT_CUT, BIDI, WAV_CALLED_HTML, NOISE_CALLED_MPEG, BIG, VANISHING]);
    origin = await startAudioOrigin();
    origin.serve(EMOJI_AT_CUT.id, { body: audioBytes(ID3, 'emoji', 10_000) });
    origin.serve(BIDI.id, { body: audioBytes(ID3, 'bidi', 10_000) });
    origin.serve(WAV_CALLED_HTML.id, { body: wavBytes, contentType: 'text/html; charset=utf-8' });
    origin.serve(NOISE_CALLED_MPEG.id, { body: deterministicBytes('noise', 10_000), contentType: 'audio/mpeg' });
    origin.serve(BIG.id, { body: bigBytes });
    origin.serve(VANISHING.id, { body: vanishingBytes });
    server = await startTestServer(originEnv(spotify, origin));
    token = (await signUp(server)).accessToken;
    for (const { id } of [EMOJI_AT_CUT, BIDI, WAV_CALLED_HTML, NOISE_CALLED_MPEG, BIG, VANISHING]) await download(id);
  });

  afterAll(async () => {
    await server?.stop();
    await origin?.close();
    await spotify?.close();
  });

  describe('names', () => {
    it('serves a track whose title has an emoji where the name is cut', async () => {
      const response = await file(EMOJI_AT_CUT.id);
      expect(response.status).toBe(200);
      const name = exactName(response.headers.get('content-disposition') ?? '');
      expect(name).toBe(`A - ${'x'.repeat(145)}\u{1f3b5}.mp3`);
      expect(Buffer.from(await response.arrayBuffer()).length).toBe(10_000);
    });

    it('keeps bidi formatting and C1 controls out of both names', async () => {
      const response = await file(BIDI.id);
      await response.arrayBuffer();
      const header = response.headers.get('content-disposition') ?? '';
      expect(exactName(header)).toBe('Ctrl Artist - Songgnp.exe iso marks c1 end.mp3');
      expect(exactName(header)).not.toMatch(UNSAFE);
      expect(/filename="([^"]*)"/.exec(header)?.[1]).toBe('Ctrl Artist - Songgnp.exe iso marks c1 end.mp3');
    });
  });

  describe('types', () => {
    it('serves the type the bytes say, with nosniff, whatever the origin claimed', async () => {
      const wav = await file(WAV_CALLED_HTML.id);
      expect(wav.status).toBe(200);
      expect(wav.headers.get('content-type')).toBe('audio/wav');
      expect(wav.headers.get('x-content-type-options')).toBe('nosniff');
      expect(exactName(wav.headers.get('content-disposition') ?? '')).toMatch(/\.wav$/);
      expect(Buffer.from(await wav.arrayBuffer()).equals(wavBytes)).toBe(true);

      const noise = await file(NOISE_CALLED_MPEG.id);
      await noise.arrayBuffer();
      expect(noise.headers.get('content-type')).toBe('application/octet-stream');
      expect(noise.headers.get('x-content-type-options')).toBe('nosniff');
      expect(exactName(noise.headers.get('content-disposition') ?? '')).toMatch(/\.bin$/);
    });
  });

  describe('ranges and validators', () => {
    it('reads the range unit case-insensitively', async () => {
      for (const range of ['BYTES=0-9', 'Bytes=0-9']) {
        const response = await file(WAV_CALLED_HTML.id, { range });
        expect(response.status, range).toBe(206);
        expect(response.headers.get('content-range')).toBe(`bytes 0-9/${wavBytes.length}`);
        expect(Buffer.from(await response.arrayBuffer()).equals(wavBytes.subarray(0, 10))).toBe(true);
      }
    });

    it('answers 304 to a matching If-None-Match, also beside the Cache-Control: no-cache that fetch adds to it', async () => {
      const etag = `"${sha256(wavBytes)}"`;
      const conditionals: Array<Record<string, string>> = [
        { 'if-none-match': `"other", W/${etag}` },
        { 'if-none-match': etag, 'cache-control': 'no-cache', pragma: 'no-cache' },
      ];
      for (const headers of conditionals) {
        const cached = await file(WAV_CALLED_HTML.id, headers);
        expect(cached.status).toBe(304);
        expect(cached.headers.get('etag')).toBe(etag);
        expect((await cached.arrayBuffer()).byteLength).toBe(0);
      }
    });
  });

  describe('failures', () => {
    it('answers a file that cannot be opened with a clean problem, without the file\'s headers', async () => {
      const blob = sha256(vanishingBytes);
      await rm(join(server.dataDir, 'audio', 'blobs', blob.slice(0, 2), blob.slice(2, 4), blob));
      for (const headers of [{}, { range: 'bytes=0-99' }] as Array<Record<string, string>>) {
        const response = await call(`${server.api}/library/${VANISHING.id}/file`, { token, headers });
        expectProblem(response, 404, 'not-found');
        for (const name of ['content-disposition', 'accept-ranges', 'content-range', 'x-content-type-options']) {
          expect(response.headers.get(name), name).toBeNull();
        }
        // Express may tag the problem itself, but never with the file's validator.
        expect(response.headers.get('etag')).not.toBe(`"${blob}"`);
        expect(Number(response.headers.get('content-length'))).toBe(Buffer.byteLength(response.text));
      }
    });

    it('logs a read error mid-stream as an error and aborts the transfer, so a short body never looks complete', async () => {
      const blobs = server.mixtape.backends.blobs as BlobStore;
      const open = blobs.open;
      // A disk that fails after the first MiB, as a bad sector would.
      blobs.open = async (key, range) => {
        const real = await open.call(blobs, key, range);
        return Readable.from(
          (async function* () {
            let sent = 0;
            for await (const chunk of real as AsyncIterable<Buffer>) {
              yield chunk;
              sent += chunk.length;
              if (sent >= MiB) throw Object.assign(new Error('EIO: i/o error, read'), { code: 'EIO', syscall: 'read' });
            }
          })(),
        );
      };
      const start = server.logs.length;
      try {
        const response = await file(BIG.id);
        expect(response.status).toBe(200);
        await expect(response.arrayBuffer()).rejects.toThrow();
      } finally {
        blobs.open = open;
      }
      await expect.poll(() => errorsFrom(start).map((line) => line.err?.code)).toEqual(['EIO']);
    });

    it('does not log a client that goes away mid-download as an error', async () => {
      const start = server.logs.length;
      const controller = new AbortController();
      const response = await file(BIG.id, {}, { signal: controller.signal });
      expect(response.status).toBe(200);
      const reader = response.body!.getReader();
      expect((await reader.read()).done).toBe(false);
      controller.abort();
      await expect.poll(() => logsFrom(start).some((line) => line.msg === 'client went away')).toBe(true);
      expect(errorsFrom(start)).toEqual([]);
      // The server still serves the next request.
      const next = await file(BIG.id, { range: 'bytes=0-3' });
      expect(Buffer.from(await next.arrayBuffer()).equals(bigBytes.subarray(0, 4))).toBe(true);
    });
  });
});
