const EXTENSIONS: Record<string, string> = {
  'audio/wav': 'wav',
  'audio/x-wav': 'wav',
  'audio/mpeg': 'mp3',
  'audio/ogg': 'ogg',
  'audio/flac': 'flac',
  'audio/mp4': 'm4a',
  'audio/aac': 'aac',
};

/**
 * `attachment` with a file name built from the track, safe for any client: an ASCII fallback
 * with nothing that could break the header or a path, and the exact name in `filename*`.
 */
export function contentDisposition(track: { title: string; artists: string[] }, contentType: string): string {
  const extension = EXTENSIONS[contentType.split(';')[0]?.trim().toLowerCase() ?? ''] ?? 'bin';
  const artist = track.artists[0];
  const base = (artist ? `${artist} - ${track.title}` : track.title)
    .normalize('NFC')
    .replace(/[\u0000-\u001f\u007f/\\:*?"<>|]+/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .slice(0, 150) || 'track';
  const ascii = base.normalize('NFKD').replace(/[^\x20-\x7e]/g, '').replace(/[%;]/g, '').trim() || 'track';
  return `attachment; filename="${ascii}.${extension}"; filename*=UTF-8''${extValue(`${base}.${extension}`)}`;
}

/**
 * RFC 8187 ext-value: encodeURIComponent leaves `'`, `(`, `)` and `*` as they are, but they are
 * not attr-chars, and `'` is the ext-value's own delimiter, so they must be percent-encoded too.
 */
function extValue(name: string): string {
  return encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}
