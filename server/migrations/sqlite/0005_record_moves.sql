-- Per-member portfolios: a record can move from one collection to another (a customer
-- reassigned to a new owner). `moved_from` keeps the collection it last left, so
-- members who could read it there still receive the (for them unreadable) new state
-- and drop their copy; the ciphertext itself never changes hands in plaintext.
ALTER TABLE records ADD COLUMN moved_from BLOB;
