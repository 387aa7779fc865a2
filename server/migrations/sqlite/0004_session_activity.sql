-- When each session was last used (updated at most once a minute) and a coarse device
-- label from its User-Agent at log-in, for the team page's "last seen" column.
ALTER TABLE sessions ADD COLUMN last_seen_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN device TEXT NOT NULL DEFAULT '';
