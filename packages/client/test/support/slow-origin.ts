import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { DEMO_AUDIO_CONTENT_TYPE, demoAudioChunks, findDemoTrack } from '@mixtape/core';

export interface SlowOrigin {
  /** A `MIXTAPE_SOURCE_URL` template for this origin. */
  urlTemplate: string;
  /** The bytes the origin serves for a demo track. */
  audioOf(trackId: string): Promise<Buffer>;
  close(): Promise<void>;
}

/**
 * An audio origin that serves the demo audio of the `slow` tracks in pieces with pauses between
 * them, so a download lasts long enough for a client to see it running and making progress (the
 * demo source renders a whole track in a few milliseconds). Other tracks come at once.
 */
export async function startSlowOrigin(options: { slow: readonly string[]; pieces?: number; pauseMs?: number }): Promise<SlowOrigin> {
  const { slow, pieces = 6, pauseMs = 150 } = options;
  const cache = new Map<string, Promise<Buffer>>();
  const audioOf = (trackId: string): Promise<Buffer> => {
    let audio = cache.get(trackId);
    if (!audio) {
      audio = render(trackId);
      cache.set(trackId, audio);
    }
    return audio;
  };

  const server: Server = createServer((req, res) => {
    const match = /^\/audio\/([0-9A-Za-z]{22})$/.exec(req.url ?? '');
    const trackId = match?.[1];
    if (!trackId || !findDemoTrack(trackId)) {
      res.writeHead(404).end();
      return;
    }
    void (async () => {
      const audio = await audioOf(trackId);
      res.writeHead(200, { 'content-type': DEMO_AUDIO_CONTENT_TYPE, 'content-length': String(audio.length) });
      const size = slow.includes(trackId) ? Math.ceil(audio.length / pieces) : audio.length;
      res.write(audio.subarray(0, size));
      for (let offset = size; offset < audio.length && !res.destroyed; offset += size) {
        await new Promise((resolve) => setTimeout(resolve, pauseMs));
        res.write(audio.subarray(offset, offset + size));
      }
      res.end();
    })().catch(() => res.destroy());
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    urlTemplate: `http://127.0.0.1:${port}/audio/{id}`,
    audioOf,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

async function render(trackId: string): Promise<Buffer> {
  const track = findDemoTrack(trackId);
  if (!track) throw new Error(`${trackId} is not a demo track`);
  const chunks: Uint8Array[] = [];
  for await (const chunk of demoAudioChunks(track)) chunks.push(chunk);
  return Buffer.concat(chunks);
}
