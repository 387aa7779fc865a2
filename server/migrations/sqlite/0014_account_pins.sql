-- The account's pins: one opaque blob per user, sealed in the browser under the
-- account's vault key (teams, chain heads, audit checkpoints, KDF settings). The
-- server cannot read or forge it; `version` only grows.
CREATE TABLE account_pins (
    username TEXT PRIMARY KEY REFERENCES users(username) ON DELETE CASCADE,
    version  INTEGER NOT NULL,
    blob     BLOB NOT NULL
);
