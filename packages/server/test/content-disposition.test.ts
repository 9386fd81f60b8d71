import { describe, expect, it } from 'vitest';
import { contentDisposition } from '../src/http/content-disposition.js';

/** What may follow UTF-8'' in `filename*`: RFC 8187 attr-chars and %XX escapes. */
const EXT_VALUE = /^(?:[A-Za-z0-9!#$&+\-.^_`|~]|%[0-9A-F]{2})+$/;
/** Everything the name must never carry: controls, bidi formatting, lone surrogates. */
const UNSAFE = /[\p{Cc}\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]|\p{Cs}/u;

/** The plain and the exact name of a Content-Disposition header this module writes. */
function namesIn(header: string): { ascii: string; exact: string } {
  const match = /^attachment; filename=(?:"([^"]*)"|([^;\s]+))(?:; filename\*=UTF-8''(.+))?$/.exec(header);
  expect(match, header).not.toBeNull();
  const [, quoted, token, encoded] = match ?? [];
  const ascii = quoted ?? token ?? '';
  if (encoded !== undefined) expect(encoded).toMatch(EXT_VALUE);
  return { ascii, exact: encoded === undefined ? ascii : decodeURIComponent(encoded) };
}

const disposition = (title: string, artists: string[] = ['A']) => namesIn(contentDisposition({ title, artists }, 'audio/mpeg'));

describe('contentDisposition', () => {
  it('cuts a long name between characters, not inside a surrogate pair', () => {
    // "A - " is 4 units, so the note's high surrogate is unit 150: where a UTF-16 cut falls.
    const title = `${'x'.repeat(145)}\u{1f3b5} and more`;
    const { exact, ascii } = disposition(title);
    expect(exact).not.toMatch(/\p{Cs}/u);
    expect(exact).toBe(`A - ${'x'.repeat(145)}\u{1f3b5}.mp3`);
    expect(ascii).toBe(`A - ${'x'.repeat(145)}.mp3`);
  });

  it('keeps an emoji sequence or a letter with its marks whole, or leaves it out', () => {
    const family = '\u{1f469}\u200d\u{1f469}\u200d\u{1f467}';
    // The family is 5 code points; starting at code point 148 it would cross 150.
    expect(disposition(`${'x'.repeat(144)}${family}`).exact).toBe(`A - ${'x'.repeat(144)}.mp3`);
    expect(disposition(`${'x'.repeat(141)}${family}`).exact).toBe(`A - ${'x'.repeat(141)}${family}.mp3`);
    // q with two combining accents has no precomposed form, so NFC leaves it 3 code points.
    expect(disposition(`${'x'.repeat(144)}q\u0301\u0308`).exact).toBe(`A - ${'x'.repeat(144)}.mp3`);
    expect([...disposition('y'.repeat(400)).exact].length).toBe(150 + '.mp3'.length);
  });

  it('drops lone surrogates instead of failing', () => {
    const { exact, ascii } = disposition('Broken \ud800 half \udfff pair');
    expect(exact).toBe('A - Broken half pair.mp3');
    expect(ascii).toBe('A - Broken half pair.mp3');
  });

  it('drops bidi formatting and C0, DEL and C1 controls from both names', () => {
    const title = 'Song\u202egnp.exe\u202c \u2066iso\u2069 \u200e\u200f\u061cmarks\u202a\u202b\u202d tab\there nul\u0000 del\u007f c1\u0085\u009b\u0080end';
    const { exact, ascii } = disposition(title, ['Ctrl\u0090Artist']);
    expect(exact).not.toMatch(UNSAFE);
    expect(ascii).not.toMatch(UNSAFE);
    expect(exact).toBe('Ctrl Artist - Songgnp.exe iso marks tab here nul del c1 end.mp3');
    expect(ascii).toBe(exact);
  });

  it('gives a name with no path, no hidden dot and a printable fallback, even from nothing usable', () => {
    expect(disposition('../../etc/passwd', []).exact).toBe('etc passwd.mp3');
    expect(disposition('\u202e\u0000', []).exact).toBe('track.mp3');
    const japanese = disposition('\u65e5\u672c', []);
    expect(japanese).toEqual({ exact: '\u65e5\u672c.mp3', ascii: 'track.mp3' });
    expect(disposition('Caf\u00e9 100%; x', []).ascii).toBe('Cafe 100 x.mp3');
  });

  it('names the extension after the stored type', () => {
    const header = (type: string) => namesIn(contentDisposition({ title: 'T', artists: [] }, type)).exact;
    expect(header('audio/wav')).toBe('T.wav');
    expect(header('audio/flac')).toBe('T.flac');
    expect(header('audio/ogg')).toBe('T.ogg');
    expect(header('audio/mp4')).toBe('T.m4a');
    expect(header('application/octet-stream')).toBe('T.bin');
  });
});
