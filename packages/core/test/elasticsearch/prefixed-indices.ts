interface ResolvedNames {
  indices: { name: string }[];
  aliases: { name: string; indices: string[] }[];
}

const REQUEST_TIMEOUT_MS = 10_000;
// Names go in the URL: a few dozen at a time keep it short.
const NAMES_PER_DELETE = 50;

/**
 * Deletes every index and alias whose name starts with `prefix`, and returns the indices'
 * names. The node refuses wildcard deletes (action.destructive_requires_name), so the names
 * are listed first and deleted by name.
 */
export async function deletePrefixedIndices(url: string, prefix: string): Promise<string[]> {
  const resolved = (await request(url, 'GET', `/_resolve/index/${encodeURIComponent(prefix)}*?expand_wildcards=all`)) as ResolvedNames;
  const indices = resolved.indices.map((index) => index.name);
  for (const alias of resolved.aliases) {
    // An alias of ours on an index that is not: deleting our indices would leave it behind.
    const foreign = alias.indices.filter((index) => !index.startsWith(prefix));
    if (foreign.length > 0) await request(url, 'DELETE', `/${names(foreign)}/_alias/${encodeURIComponent(alias.name)}`);
  }
  for (let start = 0; start < indices.length; start += NAMES_PER_DELETE) {
    await request(url, 'DELETE', `/${names(indices.slice(start, start + NAMES_PER_DELETE))}?ignore_unavailable=true`);
  }
  return indices;
}

function names(list: readonly string[]): string {
  return list.map(encodeURIComponent).join(',');
}

async function request(url: string, method: 'GET' | 'DELETE', path: string): Promise<unknown> {
  const response = await fetch(`${url}${path}`, { method, signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  const body: unknown = await response.json();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${JSON.stringify(body)}`);
  return body;
}
