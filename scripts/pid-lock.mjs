// A lock between processes on one machine: a file holding its owner's pid, created exclusively,
// and taken over once that process is gone (it died holding it). Used by
// `npm run elasticsearch` around a start or stop, and by the tests around their shared node.
import { open, readFile, rm } from 'node:fs/promises';

/** The lock was still held, by a live process, when the wait ran out. */
export class PidLockTimeout extends Error {}

/** Runs `work` while holding the lock file `path`, waiting at most `waitMs` for it. */
export async function withPidLock(path, waitMs, work) {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      const handle = await open(path, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    const holder = Number(await readFile(path, 'utf8').catch(() => ''));
    // A holder that has not written its pid yet reads as 0, and is waited on.
    if (holder > 0 && !isAlive(holder)) await rm(path, { force: true });
    else if (Date.now() > deadline) throw new PidLockTimeout(`${path} is still held by pid ${holder} after ${Math.round(waitMs / 1000)} s`);
    else await new Promise((resolve) => setTimeout(resolve, 250));
  }
  try {
    return await work();
  } finally {
    await rm(path, { force: true });
  }
}

/** Whether a process of this pid lives (EPERM: it does, as another user's). */
export function isAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}
