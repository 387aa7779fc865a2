-- Two-factor authentication (TOTP, RFC 6238). The server must hold the shared secret
-- to check codes; it is an authentication factor, not customer data. Recovery codes
-- are stored only as hashes; each works once.
ALTER TABLE users ADD COLUMN totp_secret BLOB;
ALTER TABLE users ADD COLUMN totp_pending BLOB;
ALTER TABLE users ADD COLUMN totp_last_step INTEGER NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN recovery_codes TEXT NOT NULL DEFAULT '[]';
-- An admin can require 2FA of everyone in the team.
ALTER TABLE teams ADD COLUMN require_2fa INTEGER NOT NULL DEFAULT 0;
