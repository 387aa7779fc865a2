-- Remote wipe orders: the signed order (JSON) a revoked device gets with `device_wiped`
-- and checks before it erases anything. The server cannot make one (it holds no
-- identity key); a revocation without one erases nothing.
ALTER TABLE sessions ADD COLUMN wipe_order TEXT;
