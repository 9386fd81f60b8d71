import { readFileSync } from 'node:fs';

/** Seconds of CPU a process has used (user + system), from /proc; NaN where /proc cannot say. */
export function cpuSecondsOf(pid) {
  try {
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return Number.NaN;
  }
}

/**
 * Runs `work`, timing it and measuring the CPU seconds this process and the server `pid` (a
 * database, a search node; may be undefined, then NaN) used meanwhile.
 */
export async function timedWithCpu(pid, work) {
  const serverBefore = pid === undefined ? Number.NaN : cpuSecondsOf(pid);
  const own = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const seconds = (performance.now() - started) / 1000;
  const usage = process.cpuUsage(own);
  const serverCpu = pid === undefined ? Number.NaN : cpuSecondsOf(pid) - serverBefore;
  return { result, seconds, ownCpu: (usage.user + usage.system) / 1e6, serverCpu };
}
