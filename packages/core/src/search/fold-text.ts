/**
 * Letters that carry their mark inside the letter itself, so that Unicode decomposition leaves
 * them as they are: folded by hand, as an ASCII keyboard would type them.
 */
const UNDECOMPOSABLE: Readonly<Record<string, string>> = {
  ø: 'o',
  æ: 'ae',
  œ: 'oe',
  ß: 'ss',
  ł: 'l',
  đ: 'd',
  ð: 'd',
  þ: 'th',
  ı: 'i',
  ħ: 'h',
};
const UNDECOMPOSABLE_PATTERN = new RegExp(`[${Object.keys(UNDECOMPOSABLE).join('')}]`, 'gu');

/**
 * Search text as someone without the right keyboard types it: lower case, compatibility
 * forms decomposed (NFKD), combining marks removed, and the letters decomposition cannot split
 * mapped by hand. "Björk" → "bjork", "Łona" → "lona", "Dvořák" → "dvorak", "Ｆｕｌｌ" → "full".
 * Each adapter indexes folded copies of the text and folds the query alike, so that folding
 * needs no analyzer plugin and works the same on every engine.
 */
export function foldSearchText(text: string): string {
  // Decomposed before lower-casing: compatibility forms can decompose into capitals ("™" → "TM").
  return text
    .normalize('NFKD')
    .toLowerCase()
    .replace(/\p{M}+/gu, '')
    .replace(UNDECOMPOSABLE_PATTERN, (letter) => UNDECOMPOSABLE[letter]!);
}
