-- The audit log: entries sealed by members' clients (the server cannot read them),
-- numbered per team and hash-linked (see `shared::audit::link_hash`), plus unsigned
-- server notes. Admins' clients verify the chain.
CREATE TABLE audit (
    team_id BLOB NOT NULL REFERENCES teams(team_id),
    seq     INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    author  TEXT NOT NULL,
    entry   BLOB NOT NULL,
    hash    BLOB NOT NULL,
    PRIMARY KEY (team_id, seq)
) WITHOUT ROWID;

-- Requests for risky actions and admins' signed decisions.
CREATE TABLE approvals (
    id         BLOB PRIMARY KEY,
    team_id    BLOB NOT NULL REFERENCES teams(team_id),
    requester  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    count      INTEGER NOT NULL,
    -- Whom it is about (grant_admin: the member to become an admin).
    subject    TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    approver   TEXT,
    signature  BLOB,
    decided_at INTEGER,
    -- Set when a single-use approval (grant_admin) was used.
    used_at    INTEGER,
    -- How many deletions a bulk_delete approval has covered so far (at most count).
    spent      INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX approvals_by_team ON approvals(team_id, created_at);
