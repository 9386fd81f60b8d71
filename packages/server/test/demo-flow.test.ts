import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { demoAudioChunks, demoTrackSizeBytes, findDemoTrack } from '@mixtape/core';
import { call, startTestServer, type TestServer } from './support/test-server.js';

/**
 * The whole path a new user takes on a fresh install: the demo catalog for metadata and the
 * demo source for audio, nothing else configured; on the embedded database, and on MariaDB
 * (MIXTAPE_MYSQL_URL, a new database that the server migrates).
 */

interface ServerSentEvent {
  event: string;
  data: any;
}

/** Reads a `text/event-stream` to its end (bounded by a timeout, so a stream that never ends fails). */
async function readEventStream(url: string, token: string, timeoutMs = 15_000) {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' },
    signal: AbortSignal.timeout(timeoutMs),
  });
  const events: ServerSentEvent[] = [];
  let buffer = '';
  const decoder = new TextDecoder();
  const flush = (block: string) => {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line === '' || line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon < 0 ? line : line.slice(0, colon);
      const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
    if (data.length > 0) events.push({ event, data: JSON.parse(data.join('\n')) });
  };
  // Reaching `done` is the proof that the server ended the stream.
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true }).replace(/\r\n?/g, '\n');
    let end: number;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      flush(buffer.slice(0, end));
      buffer = buffer.slice(end + 2);
    }
  }
  if (buffer.trim() !== '') flush(buffer);
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', events };
}

async function demoBytes(id: string): Promise<Buffer> {
  const track = findDemoTrack(id);
  if (!track) throw new Error(`no demo track ${id}`);
  const chunks: Uint8Array[] = [];
  for await (const chunk of demoAudioChunks(track)) chunks.push(chunk);
  return Buffer.concat(chunks);
}

const LANTERNS = '7jSH9JYK1C6JnVXnrZgTGS';
const VELVET = '1Sc1JKUYgTSR3vaL6WaF7I';
const LIGHTHOUSE = 'Ee7w3bLH5oMXpVHhqHi3sS';
const MARMALADE = 'uwFJ7K6VluJjXEGBw32xfo';
const PAPER_MOONS = ['7jSH9JYK1C6JnVXnrZgTGS', 'JKhUnVhnYcIJFC57YDgyP5', 'Q2h01WJNpDDbCrfpOy2A06'];

describe.each(['sqlite', 'mysql'] as const)('demo flow on %s', (database) => {
  let server: TestServer;
  let token: string;
  const username = 'demo.listener';
  const password = 'correct horse battery';

  beforeAll(async () => {
    server = await startTestServer({ MIXTAPE_RATE_LIMITS: 'global=10000/1m,search=1000/1m,download=100/1m' }, { database });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it(`runs on ${database}`, async () => {
    const health = await call(`${server.url}/health`);
    expect(health.status).toBe(200);
    expect(Object.keys(health.body.checks)).toContain(`${database}:responseTime`);
    // Every state of the pool gauge from the first scrape; the embedded database has no pool: 0s.
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    const pool = Object.fromEntries(
      [...metrics.matchAll(/^mixtape_db_pool_connections\{state="(\w+)"\} (\d+)$/gm)].map(([, state, value]) => [state, Number(value)]),
    );
    expect(Object.keys(pool).sort()).toEqual(['idle', 'in_use', 'waiting']);
    if (database === 'sqlite') expect(pool).toEqual({ in_use: 0, idle: 0, waiting: 0 });
    else expect(pool.idle).toBeGreaterThan(0);
  });

  it('registers and logs in a new user', async () => {
    const registered = await call(`${server.api}/auth/register`, { body: { username, password } });
    expect(registered.status).toBe(201);
    expect(registered.body).toEqual({ id: expect.any(String), username });

    const login = await call(`${server.api}/auth/login`, { body: { username, password } });
    expect(login.status).toBe(200);
    expect(login.body).toMatchObject({ tokenType: 'Bearer', accessToken: expect.any(String), refreshToken: expect.any(String) });
    expect(login.body.expiresIn).toBeGreaterThan(0);
    token = login.body.accessToken;

    const me = await call(`${server.api}/me`, { token });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ id: registered.body.id, username, quota: { usedBytes: 0, limitBytes: 1_073_741_824 } });
  });

  it('finds demo tracks by title, by artist and by album', async () => {
    const byTitle = await call(`${server.api}/tracks/search?q=${encodeURIComponent('Lanterns Over')}`, { token });
    expect(byTitle.status).toBe(200);
    expect(byTitle.body.degraded).toBe(false);
    expect(byTitle.body.total).toBe(1);
    expect(byTitle.body.items).toEqual([
      {
        id: LANTERNS,
        title: 'Lanterns Over Lisbon',
        artists: ['The Paper Moons'],
        album: 'Harbor Lights',
        durationMs: 14_000,
        isrc: 'ZZMTX2400001',
        available: false,
      },
    ]);

    const byArtist = await call(`${server.api}/tracks/search?q=${encodeURIComponent('Mira Sol')}`, { token });
    expect(byArtist.body.degraded).toBe(false);
    expect(byArtist.body.total).toBe(3);
    expect(byArtist.body.items.map((t: any) => t.id).sort()).toEqual(
      ['q1Q9wrVBDOoyNpkx4e5YRa', 'ZrGuD4MdeuVwFfx5TQ0GwT', '1Sc1JKUYgTSR3vaL6WaF7I'].sort(),
    );
    for (const track of byArtist.body.items) expect(track.artists).toContain('Mira Sol');

    const byAlbum = await call(`${server.api}/tracks/search?q=${encodeURIComponent('glass arcade')}`, { token });
    expect(byAlbum.body.degraded).toBe(false);
    expect(byAlbum.body.items.map((t: any) => t.id).sort()).toEqual(['OWR6Y4c6LZmY6JLnw8exV3', 'q1Q9wrVBDOoyNpkx4e5YRa'].sort());
    expect(byAlbum.body.items.every((t: any) => t.album === 'Glass Arcade')).toBe(true);

    const nothing = await call(`${server.api}/tracks/search?q=zzzyxw`, { token });
    expect(nothing.body).toEqual({ items: [], total: 0, degraded: false });
  });

  it('pages search results with limit and offset, keeping the total', async () => {
    const q = encodeURIComponent('Paper Moons');
    const first = await call(`${server.api}/tracks/search?q=${q}&limit=2&offset=0`, { token });
    const second = await call(`${server.api}/tracks/search?q=${q}&limit=2&offset=2`, { token });
    const beyond = await call(`${server.api}/tracks/search?q=${q}&limit=2&offset=4`, { token });
    expect(first.status).toBe(200);
    expect(first.body.total).toBe(3);
    expect(first.body.items).toHaveLength(2);
    expect(second.body.total).toBe(3);
    expect(second.body.items).toHaveLength(1);
    expect(beyond.body).toEqual({ items: [], total: 3, degraded: false });
    const ids = [...first.body.items, ...second.body.items].map((t: any) => t.id);
    expect(new Set(ids).size).toBe(3);
    expect([...ids].sort()).toEqual([...PAPER_MOONS].sort());

    const tooMany = await call(`${server.api}/tracks/search?q=${q}&limit=51`, { token });
    expect(tooMany.status).toBe(400);
    expect(tooMany.body.type).toMatch(/validation$/);
    const noQuery = await call(`${server.api}/tracks/search`, { token });
    expect(noQuery.status).toBe(400);
  });

  const jobs = new Map<string, string>();

  it('accepts a bare id, a spotify: URI and an open.spotify.com link', async () => {
    const refs: Array<[string, string]> = [
      [VELVET, VELVET],
      [LIGHTHOUSE, `spotify:track:${LIGHTHOUSE}`],
      [MARMALADE, `https://open.spotify.com/track/${MARMALADE}?si=x`],
    ];
    for (const [id, track] of refs) {
      const response = await call(`${server.api}/downloads`, { token, body: { track } });
      expect(response.status).toBe(202);
      expect(response.body).toMatchObject({ trackId: id, attempts: expect.any(Number), maxAttempts: 5 });
      expect(['queued', 'running', 'completed']).toContain(response.body.status);
      expect(response.headers.get('location')).toBe(`/api/v1/downloads/${response.body.id}`);
      jobs.set(id, response.body.id);
    }
    expect(new Set(jobs.values()).size).toBe(3);
  });

  it('follows every job to completed over server-sent events, and the stream ends', async () => {
    for (const [trackId, jobId] of jobs) {
      const stream = await readEventStream(`${server.api}/downloads/${jobId}/events`, token);
      expect(stream.status).toBe(200);
      expect(stream.contentType).toMatch(/^text\/event-stream/);
      expect(stream.events.length).toBeGreaterThan(0);
      for (const event of stream.events) expect(['status', 'progress']).toContain(event.event);
      expect(stream.events[0]?.event).toBe('status');

      const last = stream.events.at(-1);
      expect(last?.event).toBe('status');
      expect(last?.data).toMatchObject({ id: jobId, trackId, status: 'completed', attempts: 1 });
      expect(last?.data.error).toBeUndefined();

      // Progress only moves forward and never exceeds the file.
      const size = demoTrackSizeBytes(trackId) ?? -1;
      let previous = -1;
      for (const event of stream.events.filter((e) => e.event === 'progress')) {
        expect(event.data.bytes).toBeGreaterThan(previous);
        expect(event.data.bytes).toBeLessThanOrEqual(size);
        expect(event.data.totalBytes).toBe(size);
        previous = event.data.bytes;
      }
    }
  });

  it('ends the event stream of a finished job after one final status', async () => {
    const jobId = jobs.get(VELVET) ?? '';
    const stream = await readEventStream(`${server.api}/downloads/${jobId}/events`, token);
    expect(stream.events).toHaveLength(1);
    expect(stream.events[0]).toMatchObject({ event: 'status', data: { id: jobId, status: 'completed' } });
  });

  it('lists the tracks in the library with their sizes, and counts them against the quota', async () => {
    const library = await call(`${server.api}/library`, { token });
    expect(library.status).toBe(200);
    expect(library.body.total).toBe(3);
    const byId = new Map(library.body.items.map((entry: any) => [entry.track.id, entry]));
    let sum = 0;
    for (const id of jobs.keys()) {
      const size = demoTrackSizeBytes(id);
      expect(size).toBeGreaterThan(1000);
      const entry = byId.get(id) as any;
      expect(entry).toMatchObject({ sizeBytes: size, track: { id, available: true, sizeBytes: size } });
      expect(Number.isNaN(Date.parse(entry.addedAt))).toBe(false);
      sum += size ?? 0;
    }
    const me = await call(`${server.api}/me`, { token });
    expect(me.body.quota.usedBytes).toBe(sum);
  });

  it('streams each stored file byte for byte as the demo source made it', async () => {
    for (const id of jobs.keys()) {
      const response = await fetch(`${server.api}/library/${id}/file`, { headers: { authorization: `Bearer ${token}` } });
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('audio/wav');
      const bytes = Buffer.from(await response.arrayBuffer());
      const expected = await demoBytes(id);
      expect(response.headers.get('content-length')).toBe(String(expected.length));
      expect(bytes.length).toBe(expected.length);
      expect(bytes.equals(expected)).toBe(true);
    }
  });

  it('shows a downloaded track as available, with its size, in search and by id', async () => {
    const search = await call(`${server.api}/tracks/search?q=${encodeURIComponent('Velvet Alibi')}`, { token });
    const hit = search.body.items.find((t: any) => t.id === VELVET);
    expect(hit).toMatchObject({ title: 'Velvet Alibi', available: true, sizeBytes: demoTrackSizeBytes(VELVET) });

    const track = await call(`${server.api}/tracks/${LIGHTHOUSE}`, { token });
    expect(track.status).toBe(200);
    expect(track.body).toMatchObject({ id: LIGHTHOUSE, available: true, sizeBytes: demoTrackSizeBytes(LIGHTHOUSE) });

    const notDownloaded = await call(`${server.api}/tracks/${LANTERNS}`, { token });
    expect(notDownloaded.body.available).toBe(false);
    expect(notDownloaded.body.sizeBytes).toBeUndefined();
  });

  it('keeps one user\u2019s library out of another\u2019s', async () => {
    await call(`${server.api}/auth/register`, { body: { username: 'other.listener', password } });
    const login = await call(`${server.api}/auth/login`, { body: { username: 'other.listener', password } });
    const other = login.body.accessToken as string;
    expect((await call(`${server.api}/library`, { token: other })).body).toEqual({ items: [], total: 0 });
    const file = await call(`${server.api}/library/${VELVET}/file`, { token: other });
    expect(file.status).toBe(404);
    expect(file.body.type).toMatch(/not-found$/);
    expect((await call(`${server.api}/downloads/${jobs.get(VELVET)}`, { token: other })).status).toBe(404);
  });
});
