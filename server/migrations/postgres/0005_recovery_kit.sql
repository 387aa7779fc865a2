-- The recovery kit: a hash of the key derived from the user's recovery key, and the
-- account bundle sealed under another key derived from it. The server can check a
-- recovery key's proof and hand out the sealed bundle; it cannot open it.
CREATE TABLE account_recovery (
    username TEXT PRIMARY KEY REFERENCES users(username) ON DELETE CASCADE,
    verifier BYTEA NOT NULL,
    bundle   BYTEA NOT NULL
);
