import { describe, expect, it } from 'vitest';
import { DEMO_TRACKS, demoTrackSizeBytes, findDemoTrack } from '../src/demo/demo-catalog.js';
import { demoAudioSize } from '../src/demo/demo-audio.js';
import { DemoMetadataProvider } from '../src/metadata/demo-metadata-provider.js';
import { isTrackId } from '../src/spotify/track-ref.js';

describe('demo catalog', () => {
  it('holds about a dozen short tracks with distinct, valid Spotify-style ids', () => {
    expect(DEMO_TRACKS.length).toBeGreaterThanOrEqual(10);
    expect(new Set(DEMO_TRACKS.map((track) => track.id)).size).toBe(DEMO_TRACKS.length);
    for (const track of DEMO_TRACKS) {
      expect(isTrackId(track.id), track.id).toBe(true);
      expect(track.title).not.toBe('');
      expect(track.album).not.toBe('');
      expect(track.artists.length).toBeGreaterThan(0);
      expect(track.durationMs).toBeGreaterThanOrEqual(8_000);
      expect(track.durationMs).toBeLessThanOrEqual(20_000);
      expect(demoTrackSizeBytes(track.id)).toBe(demoAudioSize(track.durationMs));
    }
  });

  it('shares artists and albums between tracks, so searches find several', () => {
    const count = (values: string[]) => Math.max(...[...new Set(values)].map((v) => values.filter((x) => x === v).length));
    expect(count(DEMO_TRACKS.flatMap((track) => track.artists))).toBeGreaterThanOrEqual(3);
    expect(count(DEMO_TRACKS.map((track) => track.album))).toBeGreaterThanOrEqual(2);
  });

  it('hands out copies that cannot change the catalog', () => {
    const first = DEMO_TRACKS[0];
    const copy = findDemoTrack(first?.id ?? '');
    expect(copy).toEqual(first);
    copy?.artists.push('Someone Else');
    expect(findDemoTrack(first?.id ?? '')?.artists).toEqual(first?.artists);
    expect(Object.isFrozen(DEMO_TRACKS)).toBe(true);
    expect(findDemoTrack('0000000000000000000000')).toBeUndefined();
    expect(demoTrackSizeBytes('0000000000000000000000')).toBeUndefined();
  });
});

describe('DemoMetadataProvider', () => {
  const provider = new DemoMetadataProvider();

  it('knows exactly the demo tracks', async () => {
    expect(provider.name).toBe('demo');
    for (const track of DEMO_TRACKS) expect(await provider.getTrack(track.id)).toEqual(track);
    expect(await provider.getTrack('0000000000000000000000')).toBeNull();
    expect(await provider.getTrack('')).toBeNull();
  });
});
