import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';

/**
 * Everything about a directory tree that a write could change: each entry's path, and for
 * files their size, mtime and content hash, for directories their mtime (which moves when an
 * entry is created or removed, even if it is gone again). Two snapshots are equal only if
 * nothing in the tree was touched.
 */
export function directorySnapshot(dir: string): Record<string, string> {
  const entries: Record<string, string> = { '.': `dir ${lstatSync(dir).mtimeMs}` };
  const walk = (current: string) => {
    for (const name of readdirSync(current).sort()) {
      const path = join(current, name);
      const info = lstatSync(path);
      if (info.isDirectory()) {
        entries[`${relative(dir, path)}/`] = `dir ${info.mtimeMs}`;
        walk(path);
      } else {
        const hash = createHash('sha256').update(readFileSync(path)).digest('hex');
        entries[relative(dir, path)] = `${info.size} bytes, mtime ${info.mtimeMs}, sha256 ${hash}`;
      }
    }
  };
  walk(dir);
  return entries;
}
