// `npm run bench` (or `npm run bench -- --quick`): every benchmark, each measuring a baseline
// and Mixtape's way in the same process, reported as ratios.
import { streamingMemory } from './streaming-memory.mjs';

const quick = process.argv.includes('--quick');
const benchmarks = [streamingMemory];

for (const benchmark of benchmarks) {
  const result = await benchmark({ quick });
  console.log(`\n${result.name}`);
  console.table(result.rows.map((r) => ({ ...r, peakMiB: r.peakMiB.toFixed(1), seconds: r.seconds.toFixed(2) })));
  for (const [ratio, value] of Object.entries(result.ratios)) console.log(`  ${ratio}: ${value.toFixed(2)}`);
}
