import proxyaddr from 'proxy-addr';

/** What Express's `trust proxy` setting accepts: all or none, a hop count, or addresses. */
export type TrustProxy = boolean | number | string[];

/**
 * Reads `MIXTAPE_TRUST_PROXY` the way Express reads its `trust proxy` setting, but from text:
 * `true`/`false`, a hop count, or a comma list of addresses, subnets and the names
 * `loopback`, `linklocal`, `uniquelocal`. Handing Express the raw text would read `1` (or any
 * whole number) as an IPv4 address such as 0.0.0.1, and `true` as a name it does not know.
 * Returns the value, or a problem.
 */
export function parseTrustProxy(text: string): { value: TrustProxy } | { problem: string } {
  const trimmed = text.trim();
  if (trimmed === 'true') return { value: true };
  if (trimmed === 'false') return { value: false };
  if (/^\d+$/.test(trimmed)) return { value: Number(trimmed) };
  const entries = trimmed.split(',').map((entry) => entry.trim());
  if (entries.some((entry) => entry === '')) return { problem: 'must be true, false, a hop count, or a comma list of addresses' };
  try {
    // proxy-addr is what Express compiles the list with, so it judges exactly as Express would.
    proxyaddr.compile(entries);
  } catch {
    return {
      problem: 'must be true, false, a hop count, or a comma list of addresses, subnets, loopback, linklocal or uniquelocal',
    };
  }
  return { value: entries };
}
