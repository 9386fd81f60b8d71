/**
 * Delay before retry number `attempt` (1 for the first retry): the base doubles each time,
 * capped, and a random half of it is jittered away so that jobs failed together spread out.
 */
export function retryDelayMs(attempt: number, baseMs: number, options: { maxMs?: number; random?: () => number } = {}): number {
  const { maxMs = 15 * 60_000, random = Math.random } = options;
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(ceiling / 2 + random() * (ceiling / 2));
}
