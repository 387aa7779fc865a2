-- Remote wipe: a revoked session is kept (until it expires) marked as wiped, so the
-- device it belongs to is told, at its next contact, to erase its local data.
ALTER TABLE sessions ADD COLUMN wiped_at INTEGER;
