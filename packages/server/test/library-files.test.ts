import { join } from 'node:path';
import { AudioFiles } from '@mixtape/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, signUp, startTestServer, waitForJob, type TestServer } from './support/test-server.js';
import {
  deterministicBytes,
  filesUnder,
  sha256,
  startAudioOrigin,
  originEnv,
  startSpotifyStub,
  trackId,
  type AudioOrigin,
  type SpotifyStub,
  type StubTrack,
} from './support/origin-servers.js';

/** Serving stored files: ranges, validators, a safe file name, and removal from a library. */

const SIZE = 300_000;

const RANGED: StubTrack = {
  id: trackId('ranged'),
  name: `../../etc/passwd "Don't" (Live) \u2014 Caf\u00e9 \u65e5\u672c;x%`,
  artists: ['AC/DC\\"Bad"'],
  album: 'Paths',
  durationMs: 60_000,
};
const SHARED: StubTrack = { id: trackId('shared-file'), name: 'Shared Song', artists: ['Two Fans'], album: 'Shared', durationMs: 60_000 };

// attr-char / pct-encoded from RFC 8187 §3.2.1: what may follow UTF-8'' in `filename*`.
const EXT_VALUE_CHARS = /^(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})+$/;

describe('library files', () => {
  let spotify: SpotifyStub;
  let origin: AudioOrigin;
  let server: TestServer;
  let token: string;
  // An MP3's signature, then noise: the served type is told from the bytes, not the origin's claim.
  const bytes = deterministicBytes('ranged', SIZE);
  bytes.write('ID3', 0, 'latin1');
  const sharedBytes = deterministicBytes('shared-file', 120_000);

  const file = (id: string, headers: Record<string, string> = {}, as = token) =>
    fetch(`${server.api}/library/${id}/file`, { headers: { authorization: `Bearer ${as}`, ...headers } });

  async function download(as: string, id: string): Promise<void> {
    const job = await call(`${server.api}/downloads`, { token: as, body: { track: id } });
    const done = await waitForJob(server, as, job.body.id);
    if (done.status !== 'completed') throw new Error(`download of ${id} ended ${done.status}`);
  }

  beforeAll(async () => {
    spotify = await startSpotifyStub([RANGED, SHARED]);
    origin = await startAudioOrigin();
    origin.serve(RANGED.id, { body: bytes, contentType: 'audio/mpeg' });
    origin.serve(SHARED.id, { body: sharedBytes, contentType: 'audio/flac' });
    server = await startTestServer(originEnv(spotify, origin));
    token = (await signUp(server)).accessToken;
    await download(token, RANGED.id);
  });

  afterAll(async () => {
    await server?.stop();
    await origin?.close();
    await spotify?.close();
  });

  it('serves the whole file with its length, type and a strong ETag from the content hash', async () => {
    const response = await file(RANGED.id);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('audio/mpeg');
    expect(response.headers.get('content-length')).toBe(String(SIZE));
    expect(response.headers.get('accept-ranges')).toBe('bytes');
    expect(response.headers.get('etag')).toBe(`"${sha256(bytes)}"`);
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('serves a closed range as 206 with Content-Range and exactly those bytes', async () => {
    const response = await file(RANGED.id, { range: 'bytes=0-99' });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes 0-99/${SIZE}`);
    expect(response.headers.get('content-length')).toBe('100');
    expect(response.headers.get('etag')).toBe(`"${sha256(bytes)}"`);
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes.subarray(0, 100))).toBe(true);

    const middle = await file(RANGED.id, { range: 'bytes=1000-1999' });
    expect(middle.status).toBe(206);
    expect(Buffer.from(await middle.arrayBuffer()).equals(bytes.subarray(1000, 2000))).toBe(true);
  });

  it('serves a suffix range as the last N bytes', async () => {
    const response = await file(RANGED.id, { range: 'bytes=-100' });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes ${SIZE - 100}-${SIZE - 1}/${SIZE}`);
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes.subarray(SIZE - 100))).toBe(true);

    // A suffix longer than the file is the whole file.
    const longer = await file(RANGED.id, { range: `bytes=-${SIZE * 2}` });
    expect(longer.status).toBe(206);
    expect(longer.headers.get('content-range')).toBe(`bytes 0-${SIZE - 1}/${SIZE}`);
    expect(Buffer.from(await longer.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('serves an open-ended range to the end, and clips an end past the last byte', async () => {
    const response = await file(RANGED.id, { range: 'bytes=100-' });
    expect(response.status).toBe(206);
    expect(response.headers.get('content-range')).toBe(`bytes 100-${SIZE - 1}/${SIZE}`);
    expect(response.headers.get('content-length')).toBe(String(SIZE - 100));
    expect(Buffer.from(await response.arrayBuffer()).equals(bytes.subarray(100))).toBe(true);

    const clipped = await file(RANGED.id, { range: `bytes=${SIZE - 10}-${SIZE + 500}` });
    expect(clipped.status).toBe(206);
    expect(clipped.headers.get('content-range')).toBe(`bytes ${SIZE - 10}-${SIZE - 1}/${SIZE}`);
    expect(Buffer.from(await clipped.arrayBuffer()).equals(bytes.subarray(SIZE - 10))).toBe(true);
  });

  it('answers 416 with Content-Range bytes */size for a range that starts past the end', async () => {
    for (const range of [`bytes=${SIZE}-`, `bytes=${SIZE + 1000}-${SIZE + 2000}`, 'bytes=-0']) {
      const response = await file(RANGED.id, { range });
      expect(response.status).toBe(416);
      expect(response.headers.get('content-range')).toBe(`bytes */${SIZE}`);
      const body = Buffer.from(await response.arrayBuffer());
      expect(body.includes(bytes.subarray(0, 64))).toBe(false);
    }
  });

  it('answers If-None-Match with the current ETag by 304 and no body', async () => {
    const etag = `"${sha256(bytes)}"`;
    for (const header of [etag, `W/${etag}`, `"other", ${etag}`, '*']) {
      const response = await file(RANGED.id, { 'if-none-match': header });
      expect(response.status).toBe(304);
      expect(response.headers.get('etag')).toBe(etag);
      expect((await response.arrayBuffer()).byteLength).toBe(0);
    }
    const stale = await file(RANGED.id, { 'if-none-match': '"0000"' });
    expect(stale.status).toBe(200);
    expect(Buffer.from(await stale.arrayBuffer()).equals(bytes)).toBe(true);
  });

  it('names the file safely: no path, no quote inside the quoted name, and the exact name in filename*', async () => {
    const response = await file(RANGED.id);
    await response.arrayBuffer();
    const header = response.headers.get('content-disposition') ?? '';
    expect(header).not.toContain('/');
    expect(header).not.toContain('\\');
    const match = /^attachment; filename="([^"]*)"; filename\*=UTF-8''(.+)$/.exec(header);
    expect(match, header).not.toBeNull();
    const [, ascii = '', encoded = ''] = match ?? [];
    // The fallback is printable ASCII a client can use as is.
    expect(ascii).toMatch(/^[\x20-\x7e]+$/);
    expect(ascii).not.toMatch(/["\\/%;]/);
    expect(ascii.endsWith('.mp3')).toBe(true);
    // filename* is an RFC 8187 ext-value: attr-chars and %XX only.
    expect(encoded).toMatch(EXT_VALUE_CHARS);
    const name = decodeURIComponent(encoded);
    expect(name).not.toMatch(/[/\\"\u0000-\u001f]/);
    expect(name.startsWith('.')).toBe(false);
    expect(name).toContain('Caf\u00e9');
    expect(name).toContain('\u65e5\u672c');
    expect(name).toContain("Don't");
    expect(name).toContain('(Live)');
    expect(name.endsWith('.mp3')).toBe(true);
  });

  it('removes a track from one library, keeps the file while another user holds it, then deletes it', async () => {
    const other = await signUp(server);
    await download(token, SHARED.id);
    await download(other.accessToken, SHARED.id);
    expect(origin.requests.get(SHARED.id)).toBe(1);
    const blobName = sha256(sharedBytes);
    const blobs = () => filesUnder(join(server.dataDir, 'audio', 'blobs'));
    expect((await blobs()).some((path) => path.endsWith(blobName))).toBe(true);

    const before = (await call(`${server.api}/me`, { token })).body.quota.usedBytes;
    expect(before).toBe(SIZE + sharedBytes.length);

    const removed = await call(`${server.api}/library/${SHARED.id}`, { method: 'DELETE', token });
    expect(removed.status).toBe(204);
    expect(removed.text).toBe('');
    expect((await call(`${server.api}/me`, { token })).body.quota.usedBytes).toBe(SIZE);
    const library = await call(`${server.api}/library`, { token });
    expect(library.body.items.map((e: any) => e.track.id)).toEqual([RANGED.id]);
    expect(library.body.total).toBe(1);

    const gone = await call(`${server.api}/library/${SHARED.id}/file`, { token });
    expect(gone.status).toBe(404);
    expect(gone.body.type).toMatch(/not-found$/);
    expect((await call(`${server.api}/library/${SHARED.id}`, { method: 'DELETE', token })).status).toBe(404);

    // The other user still holds it: the file stays, and still serves.
    expect((await blobs()).some((path) => path.endsWith(blobName))).toBe(true);
    const theirs = await file(SHARED.id, {}, other.accessToken);
    expect(theirs.status).toBe(200);
    expect(Buffer.from(await theirs.arrayBuffer()).equals(sharedBytes)).toBe(true);

    const last = await call(`${server.api}/library/${SHARED.id}`, { method: 'DELETE', token: other.accessToken });
    expect(last.status).toBe(204);
    expect((await call(`${server.api}/me`, { token: other.accessToken })).body.quota.usedBytes).toBe(0);
    // The file goes through a tombstone: kept for a grace longer than any lock's TTL, then swept.
    expect((await blobs()).some((path) => path.endsWith(blobName))).toBe(true);
    const { backends } = server.mixtape;
    expect(await new AudioFiles({ ...backends, ledger: backends.blobLedger, tombstoneGraceMs: 0 }).sweep()).toBe(1);
    expect((await blobs()).some((path) => path.endsWith(blobName))).toBe(false);
    expect((await blobs()).some((path) => path.endsWith(sha256(bytes)))).toBe(true);
    expect((await call(`${server.api}/library/${SHARED.id}/file`, { token: other.accessToken })).status).toBe(404);
    expect((await call(`${server.api}/tracks/${SHARED.id}`, { token })).body.available).toBe(false);
  });

  it('refuses a malformed track id and an unauthenticated request', async () => {
    const bad = await call(`${server.api}/library/not-an-id/file`, { token });
    expect(bad.status).toBe(400);
    expect(bad.body.errors?.[0]?.path).toBe('trackId');
    expect((await fetch(`${server.api}/library/${RANGED.id}/file`)).status).toBe(401);
  });
});
