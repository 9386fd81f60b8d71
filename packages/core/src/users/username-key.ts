/**
 * A username as the user stores compare it, to key a limit on: SQLite's NOCASE folds ASCII case,
 * and MySQL's utf8mb4_unicode_520_ci folds case and accents and ignores trailing spaces, so
 * `BOB`, `bób` and `bob ` are all `bob` here. Exact for every username registration accepts
 * (ASCII letters, digits, `_`, `.`, `-`); for another, which matches no account (`AuthService`
 * refuses it unread), close enough that a guess cannot pass for a new name by an accent.
 */
export function usernameKey(username: string): string {
  return username
    .normalize('NFKD')
    .replace(/\p{M}/gu, '')
    .replace(/ +$/, '')
    .toLowerCase();
}
