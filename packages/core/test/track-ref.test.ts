import { describe, expect, it } from 'vitest';
import { ValidationError } from '../src/errors.js';
import { isTrackId, parseTrackRef, TRACK_ID_PATTERN } from '../src/spotify/track-ref.js';
import { DEFAULT_MIXTAPE_VALIDATORS } from '../src/validation/mixtape-validators.js';

const ID = '4uLU6hMCjMI75M1A2tKUQC';

const ACCEPTED: Array<[string, string]> = [
  [ID, 'a bare id'],
  [`  ${ID}\n`, 'a bare id with surrounding whitespace'],
  [`spotify:track:${ID}`, 'a spotify URI'],
  [`https://open.spotify.com/track/${ID}`, 'a share link'],
  [`https://open.spotify.com/track/${ID}/`, 'a share link with a trailing slash'],
  [`https://open.spotify.com/track/${ID}?si=a1b2c3d4e5f64789`, 'a share link with ?si='],
  [`https://open.spotify.com/track/${ID}?si=x&context=spotify%3Aalbum%3Ay`, 'a longer query string'],
  [`https://open.spotify.com/intl-de/track/${ID}`, 'an /intl-xx/ link'],
  [`https://open.spotify.com/intl-pt/track/${ID}?si=abc`, 'an /intl-xx/ link with a query'],
  [`HTTPS://OPEN.SPOTIFY.COM/track/${ID}`, 'an upper-case scheme and host'],
];

const REJECTED: Array<[string, string]> = [
  ['', 'empty'],
  ['   ', 'only whitespace'],
  [ID.slice(1), '21 characters'],
  [`${ID}x`, '23 characters'],
  ['4uLU6hMCjMI75M1A2tKU-C', 'a character outside base62'],
  ['4uLU6hMCjMI75M1A2tKUQ\u00e9', 'a non-ASCII letter'],
  [`${ID.slice(0, 11)} ${ID.slice(11)}`, 'inner whitespace'],
  [`spotify:album:${ID}`, 'an album URI'],
  [`spotify:playlist:${ID}`, 'a playlist URI'],
  [`spotify:episode:${ID}`, 'an episode URI'],
  [`spotify:track:${ID}x`, 'a URI with a bad id'],
  [`spotify:track:`, 'a URI without id'],
  [`SPOTIFY:TRACK:${ID}`, 'an upper-case URI'],
  [`http://open.spotify.com/track/${ID}`, 'plain http'],
  [`https://evil.example/track/${ID}`, 'another host'],
  [`https://open.spotify.com.evil.example/track/${ID}`, 'a host that only starts like Spotify'],
  [`https://user@open.spotify.com/track/${ID}`, 'user info in the URL'],
  [`https://open.spotify.com:8443/track/${ID}`, 'a port'],
  [`https://open.spotify.com/album/${ID}`, 'an album link'],
  [`https://open.spotify.com/playlist/${ID}`, 'a playlist link'],
  [`https://open.spotify.com/episode/${ID}`, 'an episode link'],
  [`https://open.spotify.com/track/${ID}#top`, 'a fragment'],
  [`https://open.spotify.com/track/${ID}/extra`, 'an extra path segment'],
  [`https://open.spotify.com/track//${ID}`, 'a doubled slash'],
  [`https://open.spotify.com\\track\\${ID}`, 'backslashes'],
  [`https://open.spotify.com/tr\tack/${ID}`, 'a tab inside the URL'],
  [`https://open.spotify.com/intl-deutsch/track/${ID}`, 'a malformed intl segment'],
  [`https://open.spotify.com/track/${ID}?si=a b`, 'whitespace in the query'],
  [`https://open.spotify.com/track/%34uLU6hMCjMI75M1A2tKUQC`, 'a percent-encoded id'],
  [`open.spotify.com/track/${ID}`, 'a link without scheme'],
  [`${ID}?si=abc`, 'a bare id with a query'],
  ['a'.repeat(513), 'more than 512 characters'],
  [`https://open.spotify.com/track/${ID}?si=${'a'.repeat(500)}`, 'a link longer than 512 characters'],
];

describe('parseTrackRef', () => {
  it.each(ACCEPTED)('accepts %s (%s)', (input) => {
    expect(parseTrackRef(input)).toBe(ID);
  });

  it.each(REJECTED)('rejects %j (%s)', (input) => {
    let thrown: unknown;
    try {
      parseTrackRef(input);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(ValidationError);
    const error = thrown as ValidationError;
    expect(error.code).toBe('ERR_VALIDATION');
    expect(error.errors).toHaveLength(1);
    expect(error.errors[0]?.path).toBe('track');
    expect(error.errors[0]?.message.length).toBeGreaterThan(5);
  });

  it('says what is wrong with a link to something other than a track', () => {
    expect(() => parseTrackRef(`https://open.spotify.com/album/${ID}`)).toThrow(/album, not a track/);
    expect(() => parseTrackRef(`spotify:playlist:${ID}`)).toThrow(/playlist, not a track/);
    expect(() => parseTrackRef('')).toThrow(/track: is required/);
  });

  it('does not echo the input back in the message', () => {
    const input = `https://evil.example/<script>/${ID}`;
    expect(() => parseTrackRef(input)).toThrow(ValidationError);
    try {
      parseTrackRef(input);
    } catch (error) {
      expect((error as Error).message).not.toContain('<script>');
    }
  });
});

describe('the trackRef rule', () => {
  // The OpenAPI document states this pattern; a client that checks it must agree with the server.
  it('has a pattern that, read as JSON Schema reads it, accepts exactly the references parseTrackRef reads', () => {
    const { pattern, maxLength } = DEFAULT_MIXTAPE_VALIDATORS.trackRef;
    const documented = new RegExp(pattern ?? '', 'u');
    for (const [input, label] of ACCEPTED) expect(documented.test(input.trim()), label).toBe(true);
    for (const [input, label] of REJECTED) {
      const trimmed = input.trim();
      expect(documented.test(trimmed) && [...trimmed].length <= maxLength, label).toBe(false);
    }
  });

  it('is the one parseTrackRef follows when given another', () => {
    const link = `https://open.spotify.com/track/${ID}`;
    const short = { ...DEFAULT_MIXTAPE_VALIDATORS.trackRef, maxLength: link.length - 1 };
    expect(() => parseTrackRef(link, short)).toThrow(`track: must be 1 to ${link.length - 1} characters`);
    const idsOnly = { ...DEFAULT_MIXTAPE_VALIDATORS.trackRef, pattern: '^[0-9A-Za-z]{22}$', patternMessage: 'must be a bare track id' };
    expect(parseTrackRef(` ${ID} `, idsOnly)).toBe(ID);
    expect(() => parseTrackRef(`spotify:track:${ID}`, idsOnly)).toThrow('track: must be a bare track id');
  });
});

describe('isTrackId', () => {
  it('accepts exactly 22 base62 characters', () => {
    expect(isTrackId(ID)).toBe(true);
    expect(isTrackId('0123456789abcdefABCDEF')).toBe(true);
    expect(isTrackId(ID.slice(1))).toBe(false);
    expect(isTrackId(`${ID} `)).toBe(false);
    expect(isTrackId(`spotify:track:${ID}`)).toBe(false);
    expect(TRACK_ID_PATTERN.test(ID)).toBe(true);
  });
});
