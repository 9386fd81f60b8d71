/**
 * The content type of stored audio, told from its first bytes. An origin's `Content-Type` is a
 * claim we cannot check, and we serve the type back to browsers: an origin that calls a file
 * `text/html` must not make us serve HTML. The bytes cannot lie about what they are.
 */

/** How many leading bytes `audioContentType` looks at. */
export const AUDIO_SIGNATURE_BYTES = 12;

export const UNKNOWN_CONTENT_TYPE = 'application/octet-stream';

/** The content type of audio that begins with `head`; `application/octet-stream` when unknown. */
export function audioContentType(head: Uint8Array): string {
  if (ascii(head, 0, 'RIFF') && ascii(head, 8, 'WAVE')) return 'audio/wav';
  if (ascii(head, 0, 'ID3') || isMpegFrameHeader(head)) return 'audio/mpeg';
  if (ascii(head, 0, 'fLaC')) return 'audio/flac';
  if (ascii(head, 0, 'OggS')) return 'audio/ogg';
  if (ascii(head, 4, 'ftyp')) return 'audio/mp4';
  return UNKNOWN_CONTENT_TYPE;
}

function ascii(bytes: Uint8Array, offset: number, text: string): boolean {
  if (bytes.length < offset + text.length) return false;
  for (let i = 0; i < text.length; i += 1) {
    if (bytes[offset + i] !== text.charCodeAt(i)) return false;
  }
  return true;
}

/**
 * An MPEG audio frame header without an ID3 tag before it: eleven sync bits, then a version
 * and a layer that are not the reserved values. Layer `00` is also how AAC's ADTS headers
 * start, so requiring a real layer keeps those out.
 */
function isMpegFrameHeader(bytes: Uint8Array): boolean {
  const [first = 0, second = 0] = bytes;
  if (bytes.length < 2 || first !== 0xff || (second & 0xe0) !== 0xe0) return false;
  const version = (second >> 3) & 0b11;
  const layer = (second >> 1) & 0b11;
  return version !== 0b01 && layer !== 0b00;
}
