-- smtpsift schema version 6.
-- Messages larger than 256 MiB (spooled to a temporary file while ingesting;
-- SQLite cannot hold a value over 1 GB): message_raw.data holds their first
-- 256 MiB and this table the rest, in seq order (0, 1, ...), 256 MiB per row.
-- The whole message is message_raw.data followed by every chunk's data.
CREATE TABLE message_raw_more (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    data        BLOB NOT NULL,
    UNIQUE (message_id, seq)
);
