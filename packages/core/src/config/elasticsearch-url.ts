const EXAMPLE = 'http://host:9200';

/**
 * Judges `MIXTAPE_ELASTICSEARCH_URL` as the client will use it: a URL it cannot parse (a port
 * out of range) would crash the start, and a query string or fragment would be sent with every
 * request and refused by Elasticsearch, search degrading for good. A path is kept: a cluster may
 * sit behind a proxy under one. Returns a problem, or null. Never echoes the URL: it may hold a
 * password.
 */
export function elasticsearchUrlProblem(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `must be a URL such as ${EXAMPLE}, with a port in 1–65535 (write % as %25, @ as %40, : as %3A, / as %2F, # as %23 in the user name and password)`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `must start with http:// or https://, e.g. ${EXAMPLE}`;
  if (url.hostname === '') return `must name a host, e.g. ${EXAMPLE}`;
  if (url.search !== '' || url.hash !== '') return 'must have no query string or fragment: Elasticsearch would refuse every request';
  return null;
}
