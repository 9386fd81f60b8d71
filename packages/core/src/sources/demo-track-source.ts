import { DEMO_AUDIO_CONTENT_TYPE, demoAudioChunks, demoAudioSize } from '../demo/demo-audio.js';
import { findDemoTrack } from '../demo/demo-catalog.js';
import { SourceError } from '../errors.js';
import type { AudioStream, TrackSource } from './track-source.js';

/** Audio for the built-in demo catalog, rendered on the fly; no network needed. */
export class DemoTrackSource implements TrackSource {
  readonly name = 'demo';

  async open(trackId: string, signal: AbortSignal): Promise<AudioStream> {
    if (signal.aborted) throw aborted();
    const track = findDemoTrack(trackId);
    if (!track) {
      throw new SourceError('not-found', 'The demo source has no such track', { retryable: false });
    }
    return {
      body: stopOnAbort(demoAudioChunks(track), signal),
      sizeBytes: demoAudioSize(track.durationMs),
      contentType: DEMO_AUDIO_CONTENT_TYPE,
    };
  }
}

/** Behaves as the HTTP source does when its caller aborts mid-body. */
async function* stopOnAbort(chunks: AsyncIterable<Uint8Array>, signal: AbortSignal): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    if (signal.aborted) throw aborted();
    yield chunk;
  }
}

function aborted(): SourceError {
  return new SourceError('aborted', 'The download was aborted', { retryable: true });
}
