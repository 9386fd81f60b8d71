import type { TrackMetadata } from '../model.js';

/** Resolves a Spotify track id to its metadata. */
export interface TrackMetadataProvider {
  readonly name: string;
  /** null when the provider does not know the track. @throws UnavailableError when it is down. */
  getTrack(id: string, signal?: AbortSignal): Promise<TrackMetadata | null>;
}
