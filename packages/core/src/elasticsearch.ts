// `@mixtape/core/elasticsearch`: the Elasticsearch search index, for many instances sharing one
// search engine. Everything here needs @elastic/elasticsearch (8.19.x, which speaks to 8.x and
// 9.x servers), an optional peer dependency of @mixtape/core; the main entry point never
// imports it.

export * from './elasticsearch/elasticsearch-search-index.js';
export * from './elasticsearch/elasticsearch-backends.js';
export { TRACK_INDEX_GENERATION, versionedIndexName } from './elasticsearch/track-index-layout.js';
