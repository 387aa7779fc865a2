-- Failed guesses at a secret (a passphrase at log-in, a 2FA code, a recovery key),
-- counted per account and per client address, so every instance sees the same counts
-- (SQLite: 0016_login_failures.sql). `key_hash` is a keyed hash of what is counted.
CREATE TABLE login_failures (
    key_hash     BYTEA PRIMARY KEY,
    failures     BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    forget_at    BIGINT NOT NULL
);
CREATE INDEX login_failures_forget ON login_failures (forget_at);
