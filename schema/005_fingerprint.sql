-- smtpsift schema version 5: a quick fingerprint per capture file, so a file
-- can be recognised as already ingested without hashing it whole first (the
-- full SHA-256 is computed on the second core while the file is read).
ALTER TABLE captures ADD COLUMN fingerprint TEXT;
CREATE INDEX captures_fingerprint ON captures(fingerprint);
