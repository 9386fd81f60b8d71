import { ValidationError } from '../errors.js';
import { checkText, patternMessage } from '../validation/field-checks.js';
import { DEFAULT_MIXTAPE_VALIDATORS, type TextRule } from '../validation/mixtape-validators.js';
import { TRACK_ID_IN_REF, TRACK_ID_SOURCE } from './spotify-track-patterns.js';

/** A Spotify track id: 22 characters of base62. */
export const TRACK_ID_PATTERN = new RegExp(TRACK_ID_SOURCE);

const FIELD = 'track';

// Only to say why a Spotify link or URI is refused; whether it is refused is the rule's pattern's call.
const SPOTIFY_KIND = /^(?:spotify:|https:\/\/open\.spotify\.com\/(?:intl-[a-z]{2}(?:-[A-Za-z]{2})?\/)?)([a-z]+)[:/]/i;

export function isTrackId(value: string): boolean {
  return TRACK_ID_PATTERN.test(value);
}

/**
 * The track id in a reference that `rule` accepts: by default a bare id, a `spotify:track:`
 * URI or an open.spotify.com track link, with surrounding whitespace ignored.
 * @throws ValidationError on the `track` field for anything else.
 */
export function parseTrackRef(input: string, rule: TextRule = DEFAULT_MIXTAPE_VALIDATORS.trackRef): string {
  const ref = checkText(FIELD, rule, input, whyNotATrack);
  const id = TRACK_ID_IN_REF.exec(ref)?.[1];
  // A rule may accept forms with no id in them; those are no track either.
  if (id === undefined) throw ValidationError.field(FIELD, patternMessage(rule));
  return id;
}

/** A pointed message for a link or URI to an album, a playlist or an episode; nothing otherwise. */
function whyNotATrack(ref: string): string | undefined {
  const kind = SPOTIFY_KIND.exec(ref)?.[1]?.toLowerCase();
  return kind && kind !== 'track' ? `points to a Spotify ${kind}, not a track` : undefined;
}
