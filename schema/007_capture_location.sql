-- smtpsift schema version 7.
-- The capture is the store: a file ingest keeps the bytes of messages in
-- message_raw only when asked (ingest --store-raw); otherwise export and
-- extract read them again from the capture files, found by realpath (the
-- absolute path at ingest time) or path, and check them against
-- messages.sha256. NULL for live sources and captures ingested from memory.
ALTER TABLE captures ADD COLUMN realpath TEXT;
