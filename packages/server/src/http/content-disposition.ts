import { create as formatContentDisposition } from 'content-disposition';

const EXTENSIONS: Record<string, string> = {
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/mpeg': 'mp3',
  'audio/ogg': 'ogg',
  'audio/flac': 'flac',
  'audio/mp4': 'm4a',
  'audio/aac': 'aac',
};

/** Long enough for any real "artist - title", short enough for every file system. */
const MAX_NAME_CODE_POINTS = 150;

/** A surrogate without its pair is no character at all, and `encodeURIComponent` throws on it. */
const LONE_SURROGATES = /\p{Cs}/gu;
/** C0 controls, DEL and C1 controls: some end a header, none belongs in a name. */
const CONTROLS = /\p{Cc}/gu;
/**
 * Bidirectional marks, embeddings, overrides and isolates: they make `song\u202Egnp.exe` show
 * as `songexe.png`, so a name could look like something it is not.
 */
const BIDI_FORMATTING = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/gu;
/** Path separators and what file systems refuse in a name. */
const RESERVED = /[/\\:*?"<>|]/g;
/** A leading dot hides a file, and leading spaces are lost by many tools. */
const LEADING_DOTS = /^[\s.]+/;

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' });

/**
 * `attachment` with a file name built from the track, safe for any client: a printable ASCII
 * fallback, and the exact name in `filename*`. The header itself is written by the
 * `content-disposition` package, as Express's own `res.attachment` does.
 */
export function contentDisposition(track: { title: string; artists: string[] }, contentType: string): string {
  const extension = EXTENSIONS[contentType.split(';')[0]?.trim().toLowerCase() ?? ''] ?? 'bin';
  const base = fileBaseName(track) || 'track';
  return formatContentDisposition(`${base}.${extension}`, { fallback: `${asciiFallback(base)}.${extension}` });
}

function fileBaseName(track: { title: string; artists: string[] }): string {
  const artist = track.artists[0];
  const name = (artist ? `${artist} - ${track.title}` : track.title)
    .replace(LONE_SURROGATES, '')
    .normalize('NFC')
    .replace(BIDI_FORMATTING, '')
    .replace(CONTROLS, ' ')
    .replace(RESERVED, ' ')
    .replace(/\s+/g, ' ')
    .replace(LEADING_DOTS, '');
  return cutBetweenGraphemes(name, MAX_NAME_CODE_POINTS).trim();
}

/**
 * At most `max` code points of `text`, cut between two user-perceived characters: cutting
 * UTF-16 units can split a surrogate pair, and cutting code points can split an emoji sequence
 * or a letter from its accent.
 */
function cutBetweenGraphemes(text: string, max: number): string {
  let kept = '';
  let codePoints = 0;
  for (const { segment } of graphemes.segment(text)) {
    const size = [...segment].length;
    if (codePoints + size > max) break;
    kept += segment;
    codePoints += size;
  }
  return kept;
}

/** Accents dropped (é becomes e), everything else outside printable ASCII removed. */
function asciiFallback(base: string): string {
  const ascii = base
    .normalize('NFKD')
    .replace(/[^\x20-\x7e]/g, '')
    // `%` could be read as an escape by clients that decode the plain name, `;` as its end.
    .replace(/[%;]/g, '')
    .replace(/\s+/g, ' ')
    .replace(LEADING_DOTS, '')
    .trim();
  return ascii || 'track';
}
