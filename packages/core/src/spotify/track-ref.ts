import { ValidationError } from '../errors.js';

/** A Spotify track id: 22 characters of base62. */
export const TRACK_ID_PATTERN = /^[0-9A-Za-z]{22}$/;

const MAX_REF_LENGTH = 512;
const FIELD = 'track';
const EXPECTED =
  'must be a Spotify track id (22 letters and digits), a spotify:track:<id> URI or an https://open.spotify.com/track/<id> link';

const URI = /^spotify:([a-z]+):(.*)$/;
// The authority and path are matched by hand rather than with `new URL()`, which would
// quietly drop tabs and newlines and read backslashes as slashes.
const HTTPS_URL = /^https:\/\/([^/?#]+)(\/[^?#]*)(\?[^#]*)?$/i;
const TRACK_PATH = /^\/(?:intl-[a-z]{2}(?:-[A-Za-z]{2})?\/)?([a-z]+)\/([^/]*)\/?$/;
const CONTROL_OR_SPACE = /[\s\u0000-\u001f\u007f]/;

export function isTrackId(value: string): boolean {
  return TRACK_ID_PATTERN.test(value);
}

/**
 * The track id in a bare id, a `spotify:track:` URI or an open.spotify.com track link.
 * @throws ValidationError on the `track` field for anything else.
 */
export function parseTrackRef(input: string): string {
  if (typeof input !== 'string') throw invalid('must be a string');
  if (input.length > MAX_REF_LENGTH) throw invalid(`must be at most ${MAX_REF_LENGTH} characters`);
  const ref = input.trim();
  if (ref === '') throw invalid('is required');
  if (CONTROL_OR_SPACE.test(ref)) throw invalid(EXPECTED);
  if (isTrackId(ref)) return ref;

  const uri = URI.exec(ref);
  if (uri) return trackIdOf(uri[1] ?? '', uri[2] ?? '');

  const url = HTTPS_URL.exec(ref);
  if (url && url[1]?.toLowerCase() === 'open.spotify.com') {
    const path = TRACK_PATH.exec(url[2] ?? '');
    if (path) return trackIdOf(path[1] ?? '', path[2] ?? '');
  }
  throw invalid(EXPECTED);
}

function trackIdOf(kind: string, id: string): string {
  if (kind !== 'track') throw invalid(`points to a Spotify ${kind}, not a track`);
  if (!isTrackId(id)) throw invalid('does not hold a valid track id (22 letters and digits)');
  return id;
}

function invalid(message: string): ValidationError {
  return ValidationError.field(FIELD, message);
}
