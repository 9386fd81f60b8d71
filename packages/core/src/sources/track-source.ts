/** An open stream of a track's audio from its origin. */
export interface AudioStream {
  body: AsyncIterable<Uint8Array>;
  /** The origin's declared size, when it gives one. */
  sizeBytes?: number;
  contentType: string;
}

/** Where audio comes from. */
export interface TrackSource {
  readonly name: string;
  /** @throws SourceError, whose `retryable` says whether trying again can help. */
  open(trackId: string, signal: AbortSignal): Promise<AudioStream>;
}
