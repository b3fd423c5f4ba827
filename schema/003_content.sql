-- smtpsift schema: message content (issue 4). Per-part MD5/SHA-1/libmagic type,
-- HTML as text, extraction paths; the Received chain; authentication results and
-- signatures; URLs; X-Mailer & co.; a full-text index. Documented in schema/README.md.

ALTER TABLE parts ADD COLUMN md5 TEXT;
ALTER TABLE parts ADD COLUMN sha1 TEXT;
ALTER TABLE parts ADD COLUMN magic_type TEXT;           -- MIME type libmagic finds in the bytes
ALTER TABLE parts ADD COLUMN html_text TEXT;            -- text/html: the visible text
ALTER TABLE parts ADD COLUMN extracted_path TEXT;       -- file name under the extract directory
CREATE INDEX parts_md5 ON parts(md5);
CREATE INDEX parts_sha1 ON parts(sha1);

ALTER TABLE messages ADD COLUMN x_mailer TEXT;
ALTER TABLE messages ADD COLUMN user_agent TEXT;
ALTER TABLE messages ADD COLUMN x_originating_ip TEXT;

CREATE TABLE received (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,           -- 0 = the topmost (newest) Received header
    header_seq  INTEGER NOT NULL,           -- headers.seq of the header
    from_name   TEXT,
    from_ip     TEXT,
    by_name     TEXT,
    protocol    TEXT,                       -- the "with" word: ESMTP, ESMTPS, LMTP, ...
    queue_id    TEXT,                       -- the "id" word (the receiving server's queue id)
    for_addr    TEXT,
    date        TEXT,                       -- text after ';'
    ts          REAL,                       -- date parsed (Unix seconds)
    raw         TEXT NOT NULL               -- the header value, unfolded
);
CREATE INDEX received_message ON received(message_id, seq);
CREATE INDEX received_from_ip ON received(from_ip);

CREATE TABLE auth_results (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    header       TEXT NOT NULL,             -- authentication-results, arc-authentication-results, received-spf
    header_seq   INTEGER NOT NULL,
    arc_instance INTEGER,                   -- ARC i=
    authserv_id  TEXT,
    method       TEXT NOT NULL,             -- spf, dkim, dmarc, arc, ...
    result       TEXT NOT NULL,             -- pass, fail, softfail, none, ...
    reason       TEXT,
    properties   TEXT                       -- "smtp.mailfrom=a@b header.d=b" (Received-SPF: its key=value pairs)
);
CREATE INDEX auth_results_message ON auth_results(message_id);

CREATE TABLE dkim_signatures (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    seq          INTEGER NOT NULL,
    header       TEXT NOT NULL,             -- dkim-signature, arc-message-signature, arc-seal
    header_seq   INTEGER NOT NULL,
    arc_instance INTEGER,
    version      TEXT,                      -- v=
    algorithm    TEXT,                      -- a=
    domain       TEXT,                      -- d=
    selector     TEXT,                      -- s=
    canonicalization TEXT,                  -- c=
    signed_headers TEXT,                    -- h=
    identity     TEXT,                      -- i= (DKIM only)
    body_hash    TEXT,                      -- bh=
    chain_validation TEXT,                  -- cv= (ARC-Seal)
    timestamp    INTEGER                    -- t=
);
CREATE INDEX dkim_signatures_message ON dkim_signatures(message_id);
CREATE INDEX dkim_signatures_domain ON dkim_signatures(domain);

CREATE TABLE urls (
    id           INTEGER PRIMARY KEY,
    message_id   INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    part_seq     INTEGER NOT NULL,          -- parts.seq of the body it is in
    seq          INTEGER NOT NULL,
    url          TEXT NOT NULL,
    host         TEXT,
    visible_text TEXT                       -- HTML links: the text shown; NULL for plain-text URLs
);
CREATE INDEX urls_message ON urls(message_id);
CREATE INDEX urls_host ON urls(host);

-- What the full-text index holds per message: subject, body text (plain text
-- parts, and HTML parts as visible text) and attachment file names. The index
-- is filled from this view when a message is stored, and the same view gives
-- the old values when a message is deleted (trigger below), so they always match.
CREATE VIEW v_search_doc AS
SELECT m.id AS id, m.subject AS subject,
       (SELECT group_concat(t, char(10)) FROM
          (SELECT coalesce(p.html_text, p.text) AS t FROM parts p
           WHERE p.message_id = m.id AND p.text IS NOT NULL ORDER BY p.seq)) AS body,
       (SELECT group_concat(f, char(10)) FROM
          (SELECT p.filename AS f FROM parts p
           WHERE p.message_id = m.id AND p.filename IS NOT NULL ORDER BY p.seq)) AS filenames
FROM messages m;

CREATE VIRTUAL TABLE message_search USING fts5(
    subject, body, filenames, content='v_search_doc', content_rowid='id',
    tokenize='unicode61 remove_diacritics 2');

CREATE TRIGGER message_search_delete BEFORE DELETE ON messages BEGIN
    INSERT INTO message_search(message_search, rowid, subject, body, filenames)
    SELECT 'delete', id, subject, body, filenames FROM v_search_doc
    WHERE id = old.id;
END;
-- Messages stored before this version: index them now.
INSERT INTO message_search(message_search) VALUES ('rebuild');

CREATE VIEW v_urls AS
SELECT u.id, u.message_id, m.subject, m.mail_from, m.from_addr, u.part_seq, u.url, u.host,
       u.visible_text, datetime(m.start_ts, 'unixepoch') AS time
FROM urls u JOIN messages m ON m.id = u.message_id;

CREATE VIEW v_received AS
SELECT r.message_id, r.seq, r.from_name, r.from_ip, r.by_name, r.protocol, r.queue_id,
       datetime(r.ts, 'unixepoch') AS time, m.subject
FROM received r JOIN messages m ON m.id = r.message_id;
