import type { RateLimitPolicy } from '../ratelimit/rate-limiter.js';

export const RATE_LIMIT_POLICY_NAMES = ['search', 'download', 'lookup', 'login', 'login-ip', 'register', 'global'] as const;
export type RateLimitPolicyName = (typeof RATE_LIMIT_POLICY_NAMES)[number];
export type RateLimitPolicies = Record<RateLimitPolicyName, RateLimitPolicy>;

export const DEFAULT_RATE_LIMITS = 'search=60/1m,download=10/1m,lookup=60/1m,login=5/15m,login-ip=100/1d,register=5/1h,global=600/1m';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
const ENTRY = /^([a-z][a-z-]*)=(.*)$/;
const RATE = /^(\d{1,9})\/(\d{1,6})?(s|m|h|d)$/;

/**
 * Parses `name=limit/window` entries such as `search=60/1m,login=5/15m`. A policy left out keeps
 * its default. Returns the policies, or the problems found, one per bad entry.
 */
export function parseRateLimitPolicies(text: string): { policies: RateLimitPolicies } | { problems: string[] } {
  const policies = Object.fromEntries(
    DEFAULT_RATE_LIMITS.split(',').map((entry) => {
      const parsed = parseEntry(entry);
      if (typeof parsed === 'string') throw new Error(`bad default rate limit: ${parsed}`);
      return [parsed.name, parsed];
    }),
  ) as RateLimitPolicies;
  const problems: string[] = [];
  for (const entry of text.split(',').map((e) => e.trim()).filter(Boolean)) {
    const parsed = parseEntry(entry);
    if (typeof parsed === 'string') problems.push(parsed);
    else policies[parsed.name as RateLimitPolicyName] = parsed;
  }
  return problems.length > 0 ? { problems } : { policies };
}

function parseEntry(entry: string): RateLimitPolicy | string {
  const match = ENTRY.exec(entry);
  const rate = match ? parseRate(match[2] ?? '') : null;
  if (!match || typeof rate === 'string') return `"${entry}" is not of the form name=limit/window, e.g. search=60/1m`;
  const name = match[1] ?? '';
  if (!(RATE_LIMIT_POLICY_NAMES as readonly string[]).includes(name)) {
    return `unknown policy "${name}" (known: ${RATE_LIMIT_POLICY_NAMES.join(', ')})`;
  }
  if (rate === null) return `"${entry}" needs a limit of at least 1 and a window of at least 1s`;
  return { name, ...rate };
}

/**
 * Parses a rate such as `60/1m` or `20/1s` (the window's count may be left out: `5/h`). Returns
 * the rate, null for one that allows nothing (a zero limit, a window under a second), or a
 * problem for text of another form.
 */
export function parseRate(text: string): { limit: number; windowMs: number } | null | string {
  const match = RATE.exec(text.trim());
  if (!match) return `"${text}" is not of the form limit/window, e.g. 20/1s`;
  const [, limit = '', count = '1', unit = 's'] = match;
  const windowMs = Number(count) * UNIT_MS[unit as keyof typeof UNIT_MS];
  if (Number(limit) < 1 || windowMs < 1000) return null;
  return { limit: Number(limit), windowMs };
}
