-- Quietdesk server schema (PostgreSQL): the same tables as the SQLite migrations
-- 0001–0011 arrive at, in one step. Everything customer-related is ciphertext (BYTEA);
-- times are Unix milliseconds. Later changes get their own numbered files here and in
-- ../sqlite, kept in step.
CREATE TABLE server_meta (
    key   TEXT PRIMARY KEY,
    value BYTEA NOT NULL
);

CREATE TABLE users (
    username       TEXT PRIMARY KEY,
    salt           BYTEA NOT NULL,
    kdf            TEXT NOT NULL,      -- JSON Argon2id parameters
    auth_hash      BYTEA NOT NULL,     -- SHA-256 verifier of the client's auth key
    sign_pk        BYTEA NOT NULL,
    dh_pk          BYTEA NOT NULL,
    bundle         BYTEA NOT NULL,     -- identity private keys sealed under the wrap key
    created_at     BIGINT NOT NULL,
    totp_secret    BYTEA,
    totp_pending   BYTEA,
    totp_last_step BIGINT NOT NULL DEFAULT 0,
    recovery_codes TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE sessions (
    token_hash   BYTEA PRIMARY KEY,
    username     TEXT NOT NULL REFERENCES users(username),
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL DEFAULT 0,
    device       TEXT NOT NULL DEFAULT '',
    wiped_at     BIGINT
);
CREATE INDEX sessions_by_user ON sessions(username);

CREATE TABLE teams (
    team_id     BYTEA PRIMARY KEY,
    seq         BIGINT NOT NULL DEFAULT 0,   -- last assigned change sequence
    created_at  BIGINT NOT NULL,
    epoch       BIGINT NOT NULL DEFAULT 1,
    require_2fa BOOLEAN NOT NULL DEFAULT FALSE
);

CREATE TABLE chain_entries (
    team_id BYTEA NOT NULL REFERENCES teams(team_id),
    idx     BIGINT NOT NULL,
    hash    BYTEA NOT NULL,
    entry   TEXT NOT NULL,                   -- JSON ChainEntry (signed by an admin)
    PRIMARY KEY (team_id, idx)               -- one entry per index: forks are refused
);

CREATE TABLE team_members (
    team_id  BYTEA NOT NULL REFERENCES teams(team_id),
    username TEXT NOT NULL,
    role     TEXT NOT NULL,
    PRIMARY KEY (team_id, username)
);
CREATE INDEX team_members_by_user ON team_members(username);

CREATE TABLE key_wraps (
    team_id    BYTEA NOT NULL REFERENCES teams(team_id),
    epoch      BIGINT NOT NULL,
    recipient  TEXT NOT NULL,
    collection BYTEA NOT NULL,
    scope      TEXT NOT NULL,
    wrap       BYTEA NOT NULL,
    PRIMARY KEY (team_id, recipient, epoch, collection, scope)
);

CREATE TABLE records (
    team_id    BYTEA NOT NULL REFERENCES teams(team_id),
    record_id  BYTEA NOT NULL,
    collection BYTEA NOT NULL,
    version    BIGINT NOT NULL,
    seq        BIGINT NOT NULL,
    epoch      BIGINT NOT NULL,
    author     TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    updated_at BIGINT NOT NULL,
    moved_from BYTEA,
    tombstone  BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (team_id, record_id)
);
CREATE UNIQUE INDEX records_by_seq ON records(team_id, seq);

CREATE TABLE invites (
    invite_id   BYTEA PRIMARY KEY,
    team_id     BYTEA NOT NULL REFERENCES teams(team_id),
    role        TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    accepted_by TEXT,
    sign_pk     BYTEA,
    dh_pk       BYTEA,
    mac         BYTEA,
    accepted_at BIGINT
);
CREATE INDEX invites_by_team ON invites(team_id);

CREATE TABLE alerts (
    id        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    team_id   BYTEA NOT NULL REFERENCES teams(team_id),
    at        BIGINT NOT NULL,
    kind      TEXT NOT NULL,
    username  TEXT NOT NULL,
    detail    TEXT NOT NULL,
    suspended BOOLEAN NOT NULL
);
CREATE INDEX alerts_by_team ON alerts(team_id, at);

CREATE TABLE audit (
    team_id BYTEA NOT NULL REFERENCES teams(team_id),
    seq     BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    author  TEXT NOT NULL,
    entry   BYTEA NOT NULL,
    hash    BYTEA NOT NULL,
    PRIMARY KEY (team_id, seq)
);

CREATE TABLE approvals (
    id         BYTEA PRIMARY KEY,
    team_id    BYTEA NOT NULL REFERENCES teams(team_id),
    requester  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    count      BIGINT NOT NULL,
    subject    TEXT,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    approver   TEXT,
    signature  BYTEA,
    decided_at BIGINT,
    used_at    BIGINT,
    spent      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX approvals_by_team ON approvals(team_id, created_at);
