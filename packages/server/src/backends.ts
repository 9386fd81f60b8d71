import {
  ConfigError,
  DemoMetadataProvider,
  DemoTrackSource,
  HttpTrackSource,
  openEmbeddedBackends,
  seedDemoCatalog,
  SpotifyMetadataProvider,
  type EmbeddedBackends,
  type MixtapeConfig,
} from '@mixtape/core';

/**
 * Builds the backends the configuration asks for. The production adapters (MySQL, Redis,
 * Elasticsearch) land in later releases; until then asking for them is refused rather than
 * silently served by the embedded ones.
 */
export async function openBackends(config: MixtapeConfig, options: { migrate: boolean }): Promise<EmbeddedBackends> {
  const unsupported = [
    config.mysql && 'MIXTAPE_MYSQL_URL: the MySQL backend is not available in this version; unset it to use the embedded database',
    config.redisUrl && 'MIXTAPE_REDIS_URL: the Redis backend is not available in this version; unset it to use in-process limits and locks',
    config.elasticsearch &&
      'MIXTAPE_ELASTICSEARCH_URL: the Elasticsearch backend is not available in this version; unset it to use embedded search',
  ].filter((p): p is string => typeof p === 'string');
  if (unsupported.length > 0) throw new ConfigError(unsupported);

  const metadata = config.spotify
    ? new SpotifyMetadataProvider({
        clientId: config.spotify.clientId,
        clientSecret: config.spotify.clientSecret,
        apiUrl: config.spotify.apiUrl,
        accountsUrl: config.spotify.accountsUrl,
      })
    : new DemoMetadataProvider();
  const source = config.sourceUrlTemplate ? new HttpTrackSource({ urlTemplate: config.sourceUrlTemplate }) : new DemoTrackSource();
  const backends = await openEmbeddedBackends({ dataDir: config.dataDir, migrate: options.migrate, metadata, source });
  // The demo catalog makes search work at once on a fresh install.
  if (!config.spotify) await seedDemoCatalog(backends.catalog, backends.index);
  return backends;
}
