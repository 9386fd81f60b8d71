-- sqlite-fencing-tokens: the statements of SqliteFencingTokens (locks/sqlite-fencing-tokens.ts).
--
-- Each statement starts at a `-- name:` line and is prepared once, on first use. Parameters
-- are named and bound from an object with the same camelCase keys. @keys is a JSON array of
-- lock keys, so that one statement serves any number of them.

-- name: next
-- One above the highest current token of the keys; 1 for keys never locked.
SELECT coalesce(max(token), 0) + 1 FROM fencing_tokens WHERE key IN (SELECT value FROM json_each(@keys));

-- name: raise
-- `WHERE true` lets SQLite tell the upsert's ON CONFLICT from a join condition.
INSERT INTO fencing_tokens (key, token) SELECT value, @token FROM json_each(@keys) WHERE true
ON CONFLICT (key) DO UPDATE SET token = excluded.token;

-- name: current
SELECT token FROM fencing_tokens WHERE key = @key;
