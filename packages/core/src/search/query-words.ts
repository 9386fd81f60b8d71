import { foldSearchText } from './fold-text.js';

/** A query ANDs at most this many words, to bound the cost of a long one. */
const MAX_QUERY_WORDS = 16;

/**
 * The words of a search query as every index looks for them: folded as indexed text is
 * (foldSearchText), split on whitespace, each with a letter or a digit (the rest would be empty
 * terms that match nothing), at most MAX_QUERY_WORDS. Empty when nothing searchable is left.
 */
export function queryWords(text: string): string[] {
  return foldSearchText(text)
    .split(/\s+/u)
    .filter((word) => /[\p{L}\p{N}]/u.test(word))
    .slice(0, MAX_QUERY_WORDS);
}
