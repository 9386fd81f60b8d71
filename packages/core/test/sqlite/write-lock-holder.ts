import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createRequire } from 'node:module';

/**
 * Another process holding the database's write lock (`BEGIN IMMEDIATE`), as an operator's
 * sqlite3 shell or a stalled process would: it commits after `holdMs` by its own clock, or
 * when told to.
 */
const HOLDER = `
const Database = require(process.argv[1]);
const db = new Database(process.argv[2]);
db.exec('BEGIN IMMEDIATE');
process.stdout.write('locked\\n');
const release = () => {
  db.exec('COMMIT');
  db.close();
  process.exit(0);
};
setTimeout(release, Number(process.argv[3]));
process.stdin.on('data', release);
`;

export interface WriteLockHolder {
  /** When the lock was taken, by `performance.now()` of this process. */
  lockedAt: number;
  /** Resolves once the holder committed and exited. */
  released: Promise<void>;
  /** Commits now; resolves once it has. */
  release(): Promise<void>;
}

const betterSqlite3 = createRequire(import.meta.url).resolve('better-sqlite3');

/** Starts the holder and resolves once it holds the lock. */
export async function holdWriteLock(path: string, holdMs: number): Promise<WriteLockHolder> {
  const child = spawn(process.execPath, ['-e', HOLDER, betterSqlite3, path, String(holdMs)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = once(child, 'exit');
  // Told to release as it releases on its own: nothing is left to tell.
  child.stdin.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    child.stdout.on('data', (chunk) => String(chunk).includes('locked') && resolve());
    child.once('exit', (code) => reject(new Error(`the lock holder exited with ${code} before taking the lock`)));
  });
  const lockedAt = performance.now();
  const released = exited.then(([code]) => {
    if (code !== 0) throw new Error(`the lock holder exited with ${code}`);
  });
  return {
    lockedAt,
    released,
    release() {
      if (child.exitCode === null) child.stdin.write('now\n');
      return released;
    },
  };
}
