import type { estypes } from '@elastic/elasticsearch';
import { foldSearchText } from '../search/fold-text.js';
import type { TrackDocument } from '../search/search-index.js';

/**
 * How tracks are laid out in Elasticsearch: the index behind the alias, its mapping, the
 * document written for a track, and the query run for a search. Kept apart from the adapter
 * so that a mapping change is one edit here and one bump of TRACK_INDEX_GENERATION.
 */

/**
 * The generation of the layout below. The alias points at `<alias>-v<generation>`; a mapping
 * change creates the next generation beside the old one, fills it, and moves the alias
 * (docs/deployment.md tells how), so searches never see a half-built index.
 */
export const TRACK_INDEX_GENERATION = 1;

/**
 * Typos forgiven in longer words only: none up to 4 letters, one from 5, two from 9. The last
 * word is a prefix instead (it may still be typed), so it is matched exactly.
 */
const FUZZINESS = 'AUTO:5,9';

export function versionedIndexName(alias: string): string {
  return `${alias}-v${TRACK_INDEX_GENERATION}`;
}

export const TRACK_INDEX_SETTINGS: estypes.IndicesIndexSettings = {
  number_of_shards: 1,
  // One copy: a single node would otherwise stay yellow, waiting for a replica it cannot place.
  number_of_replicas: 0,
};

/**
 * Text is indexed twice: as given, and folded by the application (`foldSearchText`), since
 * the stripped builds have no asciifolding and folding in one place works on every cluster.
 * `words` gathers every folded field and the ISRC, so that each word of a query can be found
 * in any field (title words and artist words together), while the per-field copies rank.
 */
export const TRACK_INDEX_MAPPINGS: estypes.MappingTypeMapping = {
  dynamic: 'strict',
  properties: {
    id: { type: 'keyword' },
    title: { type: 'text' },
    artists: { type: 'text' },
    album: { type: 'text' },
    isrc: { type: 'text', copy_to: 'words' },
    available: { type: 'boolean' },
    folded: {
      properties: {
        title: { type: 'text', copy_to: 'words' },
        artists: { type: 'text', copy_to: 'words' },
        album: { type: 'text', copy_to: 'words' },
      },
    },
    words: { type: 'text' },
  },
};

/** The body indexed for a track. Its version travels as the write's external version, not here. */
export function trackSource(track: TrackDocument) {
  return {
    id: track.id,
    title: track.title,
    artists: track.artists,
    album: track.album,
    ...(track.isrc === undefined ? {} : { isrc: track.isrc }),
    available: track.available,
    folded: {
      title: foldSearchText(track.title),
      artists: track.artists.map(foldSearchText),
      album: foldSearchText(track.album),
    },
  };
}

/**
 * Every word must match, in any field: with a typo forgiven when it is long and has no digit
 * (an ISRC or a year is exact), and the last one also as a prefix, since it may still be
 * being typed. The score then weighs where they matched: title above artists above album, and
 * the text as typed, accents included, a little above its folded form. User text only ever
 * goes in as a match value, so it carries no query syntax.
 */
export function trackQuery(typed: string, words: string[]): estypes.QueryDslQueryContainer {
  const folded = words.join(' ');
  const typo = (word: string): estypes.QueryDslQueryContainer => ({
    match: { words: { query: word, operator: 'and', fuzziness: /\p{N}/u.test(word) ? 0 : FUZZINESS, prefix_length: 1 } },
  });
  const last = words.at(-1)!;
  return {
    bool: {
      must: [
        ...words.slice(0, -1).map(typo),
        { bool: { should: [typo(last), { match_bool_prefix: { words: { query: last, operator: 'and' } } }], minimum_should_match: 1 } },
      ],
      should: [
        { multi_match: { query: folded, type: 'bool_prefix', fields: ['folded.title^4', 'folded.artists^3', 'folded.album^1.5'] } },
        { multi_match: { query: typed, type: 'bool_prefix', fields: ['title^2', 'artists^1.5', 'album^0.75'] } },
      ],
    },
  };
}
