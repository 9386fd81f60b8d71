import { describe, expect, it } from 'vitest';
import { demoAudioChunks } from '../src/demo/demo-audio.js';
import { DEMO_TRACKS } from '../src/demo/demo-catalog.js';
import { SourceError } from '../src/errors.js';
import { DemoTrackSource } from '../src/sources/demo-track-source.js';

async function collect(body: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}

describe('DemoTrackSource', () => {
  const source = new DemoTrackSource();

  it('streams exactly the advertised WAV bytes of every demo track', async () => {
    expect(source.name).toBe('demo');
    for (const track of DEMO_TRACKS) {
      const stream = await source.open(track.id, new AbortController().signal);
      expect(stream.contentType).toBe('audio/wav');
      const bytes = await collect(stream.body);
      expect(bytes.length).toBe(stream.sizeBytes);
      expect(bytes.toString('ascii', 0, 4)).toBe('RIFF');
      expect(bytes.equals(await collect(demoAudioChunks(track)))).toBe(true);
    }
  });

  it('answers not-found, not retryable, for an id outside the demo catalog', async () => {
    const error = await source.open('0000000000000000000000', new AbortController().signal).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).reason).toBe('not-found');
    expect((error as SourceError).retryable).toBe(false);
  });

  it('stops with a retryable SourceError when the caller aborts mid-body', async () => {
    const controller = new AbortController();
    const track = DEMO_TRACKS[0];
    const stream = await source.open(track?.id ?? '', controller.signal);
    let chunks = 0;
    const error = await (async () => {
      for await (const _chunk of stream.body) {
        chunks++;
        controller.abort();
      }
    })().catch((e: unknown) => e);
    expect(chunks).toBe(1);
    expect(error).toBeInstanceOf(SourceError);
    expect((error as SourceError).retryable).toBe(true);
  });
});
