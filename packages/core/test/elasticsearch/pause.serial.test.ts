import { afterEach, expect, it } from 'vitest';
import { sharedElasticsearchProcess, sharedElasticsearchUrl } from './shared-elasticsearch.js';

const node = sharedElasticsearchProcess();
const health = (timeoutMs: number) => fetch(`${sharedElasticsearchUrl()}/_cluster/health`, { signal: AbortSignal.timeout(timeoutMs) });

// Whatever happens in the test, the files after this one need the node answering.
afterEach(() => node.resume());

it('a paused node answers nothing, and everything again once resumed', async () => {
  node.pause();
  await expect(health(500)).rejects.toThrow(/timeout|aborted/i);
  node.resume();
  expect((await health(10_000)).ok).toBe(true);
});
