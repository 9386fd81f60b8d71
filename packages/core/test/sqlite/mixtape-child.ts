/**
 * Another Mixtape process on the same data dir, as `mixtape worker` or a second `mixtape
 * serve` would be: `node mixtape-child.mjs <data dir> <origin url template> <user id> <track id>
 * <lease ms>`. It asks for the track's download with one in-process worker, prints
 * `{"job": id}`, then `{"status": final status}` once the job ends, and exits.
 */
import { openSqliteBackends } from '../../src/embedded/sqlite-backends.js';
import { createMixtape } from '../../src/mixtape.js';
import { HttpTrackSource } from '../../src/sources/http-track-source.js';
import { processSettings } from '../support/process-settings.js';

const [dataDir, urlTemplate, userId, trackId, leaseMs] = process.argv.slice(2) as [string, string, string, string, string];
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function main(): Promise<void> {
  const backends = await openSqliteBackends({ dataDir, source: new HttpTrackSource({ urlTemplate }) });
  const mixtape = createMixtape(backends, processSettings(Number(leaseMs)));
  mixtape.start();
  const job = await mixtape.downloads.request(userId, trackId);
  print({ job: job.id });
  for (;;) {
    const current = await backends.queue.get(job.id);
    if (current && ['completed', 'failed', 'cancelled'].includes(current.status)) {
      print({ status: current.status, error: current.error ?? null });
      break;
    }
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await mixtape.close();
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.exit(1);
  },
);
