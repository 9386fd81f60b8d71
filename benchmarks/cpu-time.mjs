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
