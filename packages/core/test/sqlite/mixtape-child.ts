/**
 * Another Mixtape process on the same data dir, as `mixtape worker` or a second `mixtape
 * serve` would be: `node mixtape-child.mjs <data dir> <origin url template> <user id> <track id>
 * <lease ms>`. It asks for the track's download with one in-process worker, prints
 * `{"job": id}`, then `{"status": final status}` once the job ends, and exits.
 */
import { JwtKeyring } from '../../src/auth/jwt-keyring.js';
import { PasswordHasher } from '../../src/auth/password-hasher.js';
import { openSqliteBackends } from '../../src/embedded/sqlite-backends.js';
import { createMixtape } from '../../src/mixtape.js';
import { HttpTrackSource } from '../../src/sources/http-track-source.js';

const [dataDir, urlTemplate, userId, trackId, leaseMs] = process.argv.slice(2) as [string, string, string, string, string];
const print = (value: unknown) => process.stdout.write(`${JSON.stringify(value)}\n`);

async function main(): Promise<void> {
  const backends = await openSqliteBackends({ dataDir, source: new HttpTrackSource({ urlTemplate }) });
  const mixtape = createMixtape(backends, {
    keyring: JwtKeyring.ephemeral(),
    hasher: new PasswordHasher({ N: 1024, r: 8, p: 1 }),
    quotaBytes: 100 * 1024 ** 2,
    maxTrackBytes: 50 * 1024 ** 2,
    maxAttempts: 3,
    retryBaseMs: 50,
    jobLeaseMs: Number(leaseMs),
    workers: 1,
    workerPollIntervalMs: 50,
  });
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
