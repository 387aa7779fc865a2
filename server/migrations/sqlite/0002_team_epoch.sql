-- The team's current key epoch, from the verified chain (a removal or a rotation starts
-- the next one). Pushes sealed under an older epoch are refused once a new one starts,
-- so nothing written after a removal is readable with the removed member's keys.
ALTER TABLE teams ADD COLUMN epoch INTEGER NOT NULL DEFAULT 1;
