-- Quietdesk server schema (SQLite). Everything customer-related is ciphertext.
CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY NOT NULL,
    value BLOB NOT NULL
);

CREATE TABLE users (
    username   TEXT PRIMARY KEY NOT NULL,
    salt       BLOB NOT NULL,
    kdf        TEXT NOT NULL,      -- JSON Argon2id parameters
    auth_hash  BLOB NOT NULL,      -- SHA-256 verifier of the client's auth key
    sign_pk    BLOB NOT NULL,
    dh_pk      BLOB NOT NULL,
    bundle     BLOB NOT NULL,      -- identity private keys sealed under the wrap key
    created_at INTEGER NOT NULL
);

CREATE TABLE sessions (
    token_hash BLOB PRIMARY KEY NOT NULL,
    username   TEXT NOT NULL REFERENCES users(username),
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX sessions_by_user ON sessions(username);

CREATE TABLE teams (
    team_id    BLOB PRIMARY KEY NOT NULL,
    seq        INTEGER NOT NULL DEFAULT 0,  -- last assigned change sequence
    created_at INTEGER NOT NULL
);

CREATE TABLE chain_entries (
    team_id BLOB NOT NULL REFERENCES teams(team_id),
    idx     INTEGER NOT NULL,
    hash    BLOB NOT NULL,
    entry   TEXT NOT NULL,               -- JSON ChainEntry (signed by an admin)
    PRIMARY KEY (team_id, idx)           -- one entry per index: forks are refused
);

-- Derived from the verified chain on every append; used for access checks.
CREATE TABLE team_members (
    team_id  BLOB NOT NULL REFERENCES teams(team_id),
    username TEXT NOT NULL,
    role     TEXT NOT NULL,
    PRIMARY KEY (team_id, username)
);
CREATE INDEX team_members_by_user ON team_members(username);

CREATE TABLE key_wraps (
    team_id    BLOB NOT NULL REFERENCES teams(team_id),
    epoch      INTEGER NOT NULL,
    recipient  TEXT NOT NULL,
    collection BLOB NOT NULL,
    scope      TEXT NOT NULL,
    wrap       BLOB NOT NULL,
    PRIMARY KEY (team_id, recipient, epoch, collection, scope)
);

CREATE TABLE records (
    team_id    BLOB NOT NULL REFERENCES teams(team_id),
    record_id  BLOB NOT NULL,
    collection BLOB NOT NULL,
    version    INTEGER NOT NULL,
    seq        INTEGER NOT NULL,
    epoch      INTEGER NOT NULL,
    author     TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    updated_at INTEGER NOT NULL,
    PRIMARY KEY (team_id, record_id)
);
CREATE UNIQUE INDEX records_by_seq ON records(team_id, seq);
