-- mysql-fencing-tokens: the statements of MysqlFencingTokens (mysql/mysql-fencing-tokens.ts).
--
-- Each statement starts at a `-- name:` line and is compiled once, when the module loads.
-- Parameters are named and bound by name; @keys is an array of lock keys, sorted and without
-- duplicates, bound as a list for IN (never empty). The table is in db/mysql/001-init.sql;
-- `key` is a reserved word, hence the backquotes.
--
-- A key's token only ever rises, and every raise holds the key's row lock until its statement
-- or transaction commits, so two raises of one key never read the same value.
--
-- A guarded write (the catalog's attach and detach, the library's add, the blob ledger) checks
-- its fence with `holdsFence` as the first statement of its transaction: the share lock it
-- takes keeps any raise of that key waiting until the write has committed, so no token newer
-- than the write's can be issued in between. A plain `EXISTS (SELECT … FROM fencing_tokens …)`
-- inside the write is a consistent read at READ COMMITTED: it takes no lock, and a raise may
-- commit between that read and the write's commit.

-- name: raise
-- One key: a new row at 1, or its token one higher. The new token comes back as the insert id
-- (LAST_INSERT_ID(expr) is sent to the client as such); a new row reports 0, as the table has
-- no AUTO_INCREMENT column, and its token is 1.
INSERT INTO fencing_tokens (`key`, token) VALUES (@key, 1)
ON DUPLICATE KEY UPDATE token = LAST_INSERT_ID(token + 1);

-- name: raiseEach
-- Several keys, first step: each one higher (new ones at 1), which also locks every row, in
-- key order, for the rest of the transaction. @rows is [[key, 1], …]: a list of row lists.
INSERT INTO fencing_tokens (`key`, token) VALUES @rows
ON DUPLICATE KEY UPDATE token = token + 1;

-- name: highest
-- Second step: the highest of the raised tokens, which is one above the highest before.
SELECT MAX(token) AS token FROM fencing_tokens WHERE `key` IN (@keys);

-- name: raiseTo
-- Last step: every key to that one token.
UPDATE fencing_tokens SET token = @token WHERE `key` IN (@keys);

-- name: current
SELECT token FROM fencing_tokens WHERE `key` = @key;

-- name: holdsFence
-- The key's current token, share-locked until the caller's transaction ends. LOCK IN SHARE
-- MODE is the spelling both MariaDB and MySQL 8 accept.
SELECT token FROM fencing_tokens WHERE `key` = @key LOCK IN SHARE MODE;
