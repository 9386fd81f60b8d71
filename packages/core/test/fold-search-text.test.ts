import { describe, expect, it } from 'vitest';
import { foldSearchText } from '../src/search/fold-text.js';

describe('foldSearchText', () => {
  it('folds names as an ASCII keyboard types them', () => {
    const folded = ['Björk', 'Sigur Rós', 'Motörhead', 'Hüsker Dü', 'Röyksopp', 'Dvořák', 'Łona', 'Ærø', 'Straße', 'Þórir', 'Đorđe', 'Œuvre'].map(foldSearchText);
    expect(folded).toEqual(['bjork', 'sigur ros', 'motorhead', 'husker du', 'royksopp', 'dvorak', 'lona', 'aero', 'strasse', 'thorir', 'dorde', 'oeuvre']);
  });

  it('lower-cases what compatibility forms decompose into', () => {
    expect(foldSearchText('Ｆｕｌｌ ＷＩＤＴＨ ™ ℌ')).toBe('full width tm h');
  });

  it('keeps what is not a mark: digits, punctuation, other scripts', () => {
    expect(foldSearchText('AC/DC 1979 日本語')).toBe('ac/dc 1979 日本語');
  });
});
