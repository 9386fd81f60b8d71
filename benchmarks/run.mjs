// `npm run bench` (or `npm run bench -- --quick`): every benchmark, each measuring a baseline
// and Mixtape's way in the same run, reported as ratios.
import { loginFlood } from './login-flood.mjs';
import { queueThroughput } from './queue-throughput.mjs';
import { redisLimiter } from './redis-limiter.mjs';
import { searchCatchUp } from './search-catch-up.mjs';
import { searchLatency } from './search-latency.mjs';
import { streamingMemory } from './streaming-memory.mjs';

const quick = process.argv.includes('--quick');
const benchmarks = [streamingMemory, loginFlood, queueThroughput, redisLimiter, searchLatency, searchCatchUp];

/** Numbers to two decimals (one for MiB), so the tables stay readable. */
const shown = (row) =>
  Object.fromEntries(Object.entries(row).map(([key, value]) => [key, typeof value === 'number' ? value.toFixed(key === 'peakMiB' ? 1 : 2) : value]));

for (const benchmark of benchmarks) {
  const result = await benchmark({ quick });
  console.log(`\n${result.name}`);
  console.table(result.rows.map(shown));
  for (const [ratio, value] of Object.entries(result.ratios)) console.log(`  ${ratio}: ${value.toFixed(2)}`);
}
