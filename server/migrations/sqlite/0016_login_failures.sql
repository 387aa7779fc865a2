-- Failed guesses at a secret (a passphrase at log-in, a 2FA code, a recovery key),
-- counted per account and per client address in the database, so several instances
-- share the counts. `key_hash` is a keyed hash (the server secret) of what is counted:
-- neither usernames typed at log-in nor client addresses are stored.
CREATE TABLE login_failures (
    key_hash     BLOB PRIMARY KEY,
    failures     INTEGER NOT NULL,
    -- Unix ms: until then every guess against this key is refused unchecked.
    locked_until INTEGER NOT NULL,
    -- Unix ms: the count is forgotten then (a quiet window after the last failure
    -- or the end of its lock).
    forget_at    INTEGER NOT NULL
);
CREATE INDEX login_failures_forget ON login_failures (forget_at);
