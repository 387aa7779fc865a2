-- Whether a record's current version deletes it, as the pushing client declared it
-- (the content stays sealed): the server holds bulk deletions to an approval.
-- Rows from before this migration count as not deleted; a later deletion of one of
-- them counts as a deletion, which errs on the side of asking.
ALTER TABLE records ADD COLUMN tombstone INTEGER NOT NULL DEFAULT 0;
