/** Names that belong to clients, scripts and tests: the server neither reads nor refuses them. */
const RESERVED = [/^MIXTAPE_URL$/, /^MIXTAPE_ES_/, /^MIXTAPE_TEST_/, /^MIXTAPE_BENCH_/];

/** Variables that were once read and now have a message of their own. */
const REMOVED: Record<string, string> = {
  MIXTAPE_ADMIN_USERS:
    'MIXTAPE_ADMIN_USERS: removed, roles now live in the database: unset it and run `mixtape admin grant <username>`',
};

/**
 * One problem for every `MIXTAPE_` variable the server does not know, naming the closest known
 * one, so that a misspelt name cannot pass silently and leave its default in force.
 */
export function unknownVariableProblems(names: Iterable<string>, known: readonly string[]): string[] {
  const problems: string[] = [];
  for (const name of names) {
    if (!name.startsWith('MIXTAPE_') || known.includes(name) || RESERVED.some((r) => r.test(name))) continue;
    const removed = REMOVED[name];
    if (removed) {
      problems.push(removed);
      continue;
    }
    const closest = closestName(name, known);
    problems.push(`${name}: not a Mixtape setting${closest ? `; did you mean ${closest}?` : ''}`);
  }
  return problems;
}

/** The known name fewest edits away, if it is near enough to be a likely misspelling. */
function closestName(name: string, known: readonly string[]): string | undefined {
  let best: { name: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(name, candidate);
    if (!best || distance < best.distance) best = { name: candidate, distance };
  }
  const suffix = name.length - 'MIXTAPE_'.length;
  return best && best.distance <= Math.max(2, Math.ceil(suffix / 3)) ? best.name : undefined;
}

/** Levenshtein distance, with a swap of two neighbours counted as one edit. */
function editDistance(a: string, b: string): number {
  const rows = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j += 1) rows[0]![j] = j;
  for (let i = 1; i <= a.length; i += 1) {
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(rows[i - 1]![j]! + 1, rows[i]![j - 1]! + 1, rows[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) best = Math.min(best, rows[i - 2]![j - 2]! + 1);
      rows[i]![j] = best;
    }
  }
  return rows[a.length]![b.length]!;
}
