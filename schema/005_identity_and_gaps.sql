-- smtpsift schema version 5.
-- A quick fingerprint per capture file, so a file can be recognised as already
-- ingested without hashing it whole first (the full SHA-256 is computed on the
-- second core while the file is read).
ALTER TABLE captures ADD COLUMN fingerprint TEXT;
CREATE INDEX captures_fingerprint ON captures(fingerprint);
-- Bytes of a message's content missing from the capture (holes inside DATA or
-- BDAT content); such a message also has truncated = 1.
ALTER TABLE messages ADD COLUMN missing_bytes INTEGER NOT NULL DEFAULT 0;
