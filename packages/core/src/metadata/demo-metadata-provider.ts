import { findDemoTrack } from '../demo/demo-catalog.js';
import type { TrackMetadata } from '../model.js';
import type { TrackMetadataProvider } from './track-metadata-provider.js';

/** Metadata for the built-in demo catalog, offline; knows no other track. */
export class DemoMetadataProvider implements TrackMetadataProvider {
  readonly name = 'demo';

  async getTrack(id: string, signal?: AbortSignal): Promise<TrackMetadata | null> {
    signal?.throwIfAborted();
    return findDemoTrack(id) ?? null;
  }
}
