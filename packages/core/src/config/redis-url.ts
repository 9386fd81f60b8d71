/**
 * Redis's default number of databases (`databases 16` in redis.conf): a database path beyond it
 * would be refused by SELECT at every connection, so it is refused here, at start, instead. A
 * Redis configured with more databases is rare enough not to be worth a setting.
 */
export const REDIS_DATABASES = 16;

const EXAMPLE = 'redis://:password@host:6379/0';

/**
 * Judges `MIXTAPE_REDIS_URL` the way ioredis will read it, so that a URL it would choke on (a
 * port out of range, a password that is not percent-encoded, a database that is not a number) is
 * a configuration error at start (exit 78, naming the variable) instead of a crash or a server
 * stuck on its fallbacks. Returns a problem, or null. Never echoes the URL: it may hold a password.
 */
export function redisUrlProblem(text: string): string | null {
  // RedisConnection and ioredis both tell a URL from a socket path by this prefix, in lower case.
  if (!/^rediss?:\/\//.test(text)) return 'must start with redis:// or rediss://';
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    const port = /^rediss?:\/\/(?:[^@/?#]*@)?(?:\[[^\]/]*\]|[^:/?#]*):(\d+)(?:[/?#]|$)/.exec(text)?.[1];
    if (port !== undefined && Number(port) > 65_535) return 'has a port outside 1–65535';
    return `must be a URL such as ${EXAMPLE} (write % as %25, @ as %40, : as %3A, / as %2F, # as %23 in the user name and password)`;
  }
  // Opaque hosts (redis: is not a scheme URL parsers know) take nearly anything; a host name or address does not.
  if (!/^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+)$/.test(url.hostname)) return `must name a host, e.g. ${EXAMPLE}`;
  if (url.port !== '' && Number(url.port) < 1) return 'has a port outside 1–65535';
  for (const [part, value] of [
    ['user name', url.username],
    ['password', url.password],
  ] as const) {
    try {
      decodeURIComponent(value);
    } catch {
      return `has a ${part} that is not percent-encoded (write % as %25, @ as %40, : as %3A, / as %2F, # as %23)`;
    }
  }
  const database = url.pathname.replace(/^\//, '');
  if (database !== '' && !(/^(?:0|[1-9]\d?)$/.test(database) && Number(database) < REDIS_DATABASES)) {
    return `must end with a database number from 0 to ${REDIS_DATABASES - 1} (Redis's default number of databases), or none for 0`;
  }
  // ioredis would take any query parameter as a connection option, overriding the ones Mixtape
  // sets (timeouts, the offline queue); TLS is asked for with rediss:// instead.
  if (url.search !== '') return 'has a query string (?…), which Mixtape does not accept: use rediss:// for TLS';
  if (url.hash !== '') return 'has a fragment (#…): write # as %23 in a password';
  return null;
}
