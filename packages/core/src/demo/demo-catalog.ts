import type { TrackMetadata } from '../model.js';
import { demoAudioSize } from './demo-audio.js';

/**
 * A small invented catalog (every title, artist and album is made up) so that search and
 * download work offline. Artists and albums repeat so that searches find several tracks.
 * Durations are short because the demo audio is rendered to match them.
 */
export const DEMO_TRACKS: readonly TrackMetadata[] = deepFreeze([
  {
    id: '7jSH9JYK1C6JnVXnrZgTGS',
    title: 'Lanterns Over Lisbon',
    artists: ['The Paper Moons'],
    album: 'Harbor Lights',
    durationMs: 14_000,
    isrc: 'ZZMTX2400001',
  },
  {
    id: 'JKhUnVhnYcIJFC57YDgyP5',
    title: 'Salt & Static',
    artists: ['The Paper Moons'],
    album: 'Harbor Lights',
    durationMs: 11_000,
    isrc: 'ZZMTX2400002',
  },
  {
    id: 'Q2h01WJNpDDbCrfpOy2A06',
    title: 'Northbound Freight',
    artists: ['The Paper Moons'],
    album: 'Harbor Lights',
    durationMs: 16_500,
  },
  {
    id: 'OWR6Y4c6LZmY6JLnw8exV3',
    title: 'Neon Tidepool',
    artists: ['Kilo Heron'],
    album: 'Glass Arcade',
    durationMs: 12_000,
    isrc: 'ZZMTX2400004',
  },
  {
    id: 'q1Q9wrVBDOoyNpkx4e5YRa',
    title: 'Polygon Heart',
    artists: ['Kilo Heron', 'Mira Sol'],
    album: 'Glass Arcade',
    durationMs: 18_000,
  },
  {
    id: 'ZrGuD4MdeuVwFfx5TQ0GwT',
    title: 'Copper Sunday',
    artists: ['Mira Sol'],
    album: 'Slow Honey',
    durationMs: 13_000,
  },
  {
    id: '1Sc1JKUYgTSR3vaL6WaF7I',
    title: 'Velvet Alibi',
    artists: ['Mira Sol'],
    album: 'Slow Honey',
    durationMs: 9_500,
    isrc: 'ZZMTX2400007',
  },
  {
    id: 'm86a0lJ7GLahMmoANx43pV',
    title: 'Thirteen Crows',
    artists: ['Ashgrove'],
    album: 'Field Recordings of a Storm',
    durationMs: 20_000,
  },
  {
    id: 'xAqb61yt7pvYZuebxH0POH',
    title: 'Rust Belt Lullaby',
    artists: ['Dolly Marrow & The Switchbacks'],
    album: 'Gravel Roads',
    durationMs: 15_000,
  },
  {
    id: 'uwFJ7K6VluJjXEGBw32xfo',
    title: 'Quantum Marmalade',
    artists: ['Professor Ampersand'],
    album: 'Breakfast Theories',
    durationMs: 10_000,
  },
  {
    id: 'UXg8WlPVYSDop6lKTPbz6P',
    title: 'Samba for a Lost Umbrella',
    artists: ['Trio Caramujo'],
    album: 'Chuva Miúda',
    durationMs: 12_500,
  },
  {
    id: 'Ee7w3bLH5oMXpVHhqHi3sS',
    title: 'Midnight Lighthouse',
    artists: ['Kilo Heron', 'Ashgrove'],
    album: 'Midnight Lighthouse',
    durationMs: 8_000,
  },
]);

const BY_ID = new Map(DEMO_TRACKS.map((track) => [track.id, track]));

/** A fresh copy of a demo track, so callers may change it without touching the catalog. */
export function findDemoTrack(id: string): TrackMetadata | undefined {
  const track = BY_ID.get(id);
  return track && { ...track, artists: [...track.artists] };
}

/** The size of a demo track's WAV file, or undefined when the id is not a demo track. */
export function demoTrackSizeBytes(id: string): number | undefined {
  const track = BY_ID.get(id);
  return track && demoAudioSize(track.durationMs);
}

function deepFreeze(tracks: TrackMetadata[]): readonly TrackMetadata[] {
  for (const track of tracks) {
    Object.freeze(track.artists);
    Object.freeze(track);
  }
  return Object.freeze(tracks);
}
