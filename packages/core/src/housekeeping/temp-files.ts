/** The attempt a temp file's name says it belongs to: a job and the token of its lease. */
export interface TempOwner {
  jobId: string;
  token: string;
}

/**
 * Temp files of writes in progress, which a killed process leaves behind (`LocalBlobStore`
 * keeps them under `tmp/`, named after the job attempt that writes them). Housekeeping sweeps
 * them; a store that keeps no temp files has nothing to offer here.
 */
export interface TempFiles {
  /**
   * Removes temp files untouched for `olderThanMs`, and those of any age whose owner
   * `ownerIsLive` says is gone. Returns how many it removed.
   */
  sweepTemp(olderThanMs: number, ownerIsLive: (owner: TempOwner) => Promise<boolean>): Promise<number>;
}
