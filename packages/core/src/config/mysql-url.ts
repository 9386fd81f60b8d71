/**
 * Judges `MIXTAPE_MYSQL_URL` the way mysql2 will read it, so that a URL it would choke on is a
 * configuration error at start (exit 78, naming the variable) instead of a crash. Returns a
 * problem, or null. Never echoes the URL: it may hold a password.
 */
export function mysqlUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return 'must be a URL such as mysql://user:password@host:3306/database';
  }
  if (url.protocol !== 'mysql:') return 'must start with mysql://';
  if (!url.hostname) return 'must name a host';
  for (const [part, value] of [
    ['user name', url.username],
    ['password', url.password],
    ['database name', url.pathname.slice(1)],
  ] as const) {
    try {
      decodeURIComponent(value);
    } catch {
      return `has a ${part} that is not percent-encoded (write % as %25, @ as %40, : as %3A, / as %2F)`;
    }
  }
  const database = decodeURIComponent(url.pathname.slice(1));
  if (!/^[A-Za-z0-9_$-]{1,64}$/.test(database)) return 'must name the database after the host, e.g. …:3306/mixtape';
  for (const [key, value] of url.searchParams) {
    // TLS is the one connection option worth carrying in the URL; the rest Mixtape sets itself.
    if (key !== 'ssl') return `has the option "${key}", which Mixtape does not read (only ssl={…} is allowed)`;
    if (!isJsonObject(value)) return 'has an ssl option that is not a JSON object, e.g. ssl={"rejectUnauthorized":true}';
  }
  return null;
}

function isJsonObject(text: string): boolean {
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === 'object' && value !== null && !Array.isArray(value);
  } catch {
    return false;
  }
}
