import type { Page, PageRequest } from '../model.js';
import type { IndexedDocument, SearchIndex, TrackDocument } from './search-index.js';

/**
 * A search index whose every write also goes to a mirror, first: the database's own full-text
 * index behind Elasticsearch, so that search can fall back on it holding the same documents.
 * Searches and reconciliation read the primary. A write that fails on the primary after the
 * mirror took it is retried whole by the relay, which the mirror's versions make harmless.
 */
export class MirroredSearchIndex implements SearchIndex {
  readonly name: string;

  constructor(
    readonly primary: SearchIndex,
    readonly mirror: SearchIndex,
  ) {
    this.name = primary.name;
  }

  async upsert(documents: TrackDocument[]): Promise<void> {
    await this.mirror.upsert(documents);
    await this.primary.upsert(documents);
  }

  async remove(ids: string[]): Promise<void> {
    await this.mirror.remove(ids);
    await this.primary.remove(ids);
  }

  search(query: string, page: PageRequest): Promise<Page<string>> {
    return this.primary.search(query, page);
  }

  documents(pageSize: number): AsyncIterable<IndexedDocument> {
    return this.primary.documents(pageSize);
  }
}
