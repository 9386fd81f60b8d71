/** An open stream of a track's audio from its origin. */
export interface AudioStream {
  body: AsyncIterable<Uint8Array>;
  /** The origin's declared size, when it gives one. */
  sizeBytes?: number;
  /**
   * What the origin says the audio is. A claim only: the type Mixtape stores and serves is told
   * from the bytes themselves (`audioContentType`).
   */
  contentType: string;
}

/** Where audio comes from. */
export interface TrackSource {
  readonly name: string;
  /** @throws SourceError, whose `retryable` says whether trying again can help. */
  open(trackId: string, signal: AbortSignal): Promise<AudioStream>;
}
