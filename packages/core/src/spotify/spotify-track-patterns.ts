/**
 * Spotify's track id and the forms a user may paste one in, as regular-expression sources. They
 * are sources, not RegExps, because the validators that use them are plain data, read by core,
 * by Joi and by the OpenAPI document alike. Every source here works without flags, since JSON
 * Schema's `pattern` takes none, and reads the same with the `u` flag or without.
 */

export const TRACK_ID_LENGTH = 22;
/** The characters of a track id: base62. */
export const TRACK_ID_CHARACTERS = '0-9A-Za-z';

const ID = `[${TRACK_ID_CHARACTERS}]{${TRACK_ID_LENGTH}}`;

/** Exactly one track id. */
export const TRACK_ID_SOURCE = `^${ID}$`;

const REGEX_SYNTAX = /[\\^$.*+?()[\]{}|]/;

/** `text` in any letter case, without the `i` flag that JSON Schema cannot carry. */
function inAnyCase(text: string): string {
  return [...text]
    .map((c) => {
      if (c.toLowerCase() !== c.toUpperCase()) return `[${c.toUpperCase()}${c.toLowerCase()}]`;
      return REGEX_SYNTAX.test(c) ? `\\${c}` : c;
    })
    .join('');
}

// Scheme and host in any case, as URLs allow; the path and its `intl-xx` prefix as Spotify
// writes them. No user info, no port, no fragment. The query string may hold anything but
// whitespace and control characters: it is ignored, but what it carries must be printable.
const SHARE_LINK = `${inAnyCase('https://open.spotify.com')}/(?:intl-[a-z]{2}(?:-[A-Za-z]{2})?/)?track/${ID}/?(?:\\?[^#\\s\\u0000-\\u001f\\u007f]*)?`;

/** A bare track id, a `spotify:track:` URI, or an open.spotify.com track link. */
export const TRACK_REF_SOURCE = `^(?:${ID}|spotify:track:${ID}|${SHARE_LINK})$`;

/** Where the id sits in a reference that matched TRACK_REF_SOURCE: alone, or right after `track:` or `track/`. */
export const TRACK_ID_IN_REF = new RegExp(`(?:^|track[:/])(${ID})(?![${TRACK_ID_CHARACTERS}])`);
