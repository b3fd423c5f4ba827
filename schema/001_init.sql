-- smtpsift schema version 1. Applied once, inside a transaction, by store.c;
-- PRAGMA user_version records it. Every table and column is described in
-- schema/README.md: names here are promised to users.

CREATE TABLE ingests (
    id            INTEGER PRIMARY KEY,
    started_at    TEXT NOT NULL,            -- wall clock of the run (UTC, ISO 8601); not evidence
    finished_at   TEXT,
    status        TEXT NOT NULL CHECK (status IN ('running','complete','interrupted','failed')),
    tool_version  TEXT NOT NULL,
    command_line  TEXT
);

CREATE TABLE captures (
    id            INTEGER PRIMARY KEY,
    ingest_id     INTEGER NOT NULL REFERENCES ingests(id) ON DELETE CASCADE,
    file_index    INTEGER NOT NULL,         -- position in the run (0-based)
    path          TEXT NOT NULL,
    sha256        TEXT NOT NULL,
    size          INTEGER NOT NULL,
    format        TEXT,                     -- pcap / pcapng
    link_type     INTEGER,
    link_name     TEXT,
    packets       INTEGER NOT NULL DEFAULT 0,
    bytes         INTEGER NOT NULL DEFAULT 0,
    short_frames  INTEGER NOT NULL DEFAULT 0,
    first_ts      REAL,
    last_ts       REAL,
    status        TEXT NOT NULL CHECK (status IN ('running','complete','truncated','interrupted','failed')),
    error         TEXT
);
CREATE INDEX captures_sha256 ON captures(sha256);

CREATE TABLE sessions (
    id              INTEGER PRIMARY KEY,
    capture_id      INTEGER NOT NULL REFERENCES captures(id) ON DELETE CASCADE,
    uid             TEXT NOT NULL,          -- stable id: first 16 hex of sha256(capture sha256, first packet, 4-tuple)
    client_ip       TEXT NOT NULL,
    client_port     INTEGER NOT NULL,
    server_ip       TEXT NOT NULL,
    server_port     INTEGER NOT NULL,
    ip_version      INTEGER NOT NULL,
    first_packet    INTEGER NOT NULL,
    last_capture_id INTEGER REFERENCES captures(id) ON DELETE CASCADE,
    last_packet     INTEGER,
    start_ts        REAL NOT NULL,
    end_ts          REAL,
    state           TEXT NOT NULL CHECK (state IN ('open','closed')),
    close_reason    TEXT,                   -- fin / rst / timeout / eof
    reassembly      TEXT NOT NULL DEFAULT 'complete',
    bytes_c2s       INTEGER NOT NULL DEFAULT 0,
    bytes_s2c       INTEGER NOT NULL DEFAULT 0,
    banner_code     INTEGER,
    banner          TEXT,
    helo_verb       TEXT,
    helo            TEXT,
    extensions      TEXT,                   -- EHLO keywords, space separated ("PIPELINING SIZE 8BITMIME")
    pipelining_offered INTEGER NOT NULL DEFAULT 0,
    pipelining_used    INTEGER NOT NULL DEFAULT 0,
    tls             INTEGER NOT NULL DEFAULT 0,
    n_commands      INTEGER NOT NULL DEFAULT 0,
    n_messages      INTEGER NOT NULL DEFAULT 0,
    quit            INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX sessions_capture ON sessions(capture_id);
CREATE INDEX sessions_client ON sessions(client_ip);
CREATE INDEX sessions_server ON sessions(server_ip);

CREATE TABLE extensions (
    session_id  INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    keyword     TEXT NOT NULL,              -- upper-case: SIZE, PIPELINING, AUTH
    params      TEXT NOT NULL,              -- the rest of the line: "10240000", "PLAIN LOGIN"
    PRIMARY KEY (session_id, seq)
) WITHOUT ROWID;

CREATE TABLE commands (
    id            INTEGER PRIMARY KEY,
    session_id    INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    verb          TEXT,                     -- NULL: the server greeting, or a reply that matched no command
    args          TEXT,
    line          BLOB,                     -- command line exactly as sent, without CRLF
    cmd_ts        REAL,
    cmd_packet    INTEGER,
    cmd_capture_id INTEGER,
    txn           INTEGER,                  -- messages.seq of the transaction it belongs to, or NULL
    reply_code    INTEGER,                  -- NULL: no reply seen
    enhanced_code TEXT,
    reply_text    TEXT,
    reply_lines   INTEGER,
    reply_ts      REAL,
    reply_packet  INTEGER,
    reply_capture_id INTEGER
);
CREATE INDEX commands_session ON commands(session_id, seq);
CREATE INDEX commands_verb ON commands(verb);

CREATE TABLE messages (
    id              INTEGER PRIMARY KEY,
    session_id      INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq             INTEGER NOT NULL,       -- transaction number in the session (0-based)
    mail_from       TEXT,                   -- envelope sender, '' for <>
    mail_from_raw   TEXT,
    mail_params     TEXT,
    mail_reply_code INTEGER,
    disposition     TEXT NOT NULL CHECK (disposition IN ('accepted','rejected','aborted','incomplete')),
    has_content     INTEGER NOT NULL,
    data_reply_code INTEGER,
    data_reply_text TEXT,
    queue_id        TEXT,
    size            INTEGER,                -- bytes of the message as received (after dot un-stuffing)
    sha256          TEXT,                   -- of those bytes
    truncated       INTEGER NOT NULL DEFAULT 0,
    terminator      TEXT,
    parsed          INTEGER NOT NULL DEFAULT 0,
    subject         TEXT,
    from_addr       TEXT,
    from_name       TEXT,
    date            TEXT,                   -- Date header as written
    date_ts         REAL,                   -- Date header parsed (Unix seconds)
    message_id      TEXT,                   -- Message-ID header without <>
    in_reply_to     TEXT,
    n_recipients    INTEGER NOT NULL DEFAULT 0,
    n_accepted      INTEGER NOT NULL DEFAULT 0,
    n_parts         INTEGER NOT NULL DEFAULT 0,
    n_attachments   INTEGER NOT NULL DEFAULT 0,
    capture_id      INTEGER REFERENCES captures(id) ON DELETE CASCADE,
    first_packet    INTEGER,
    last_capture_id INTEGER,
    last_packet     INTEGER,
    start_ts        REAL,
    end_ts          REAL
);
CREATE INDEX messages_session ON messages(session_id, seq);
CREATE INDEX messages_mail_from ON messages(mail_from);
CREATE INDEX messages_from_addr ON messages(from_addr);
CREATE INDEX messages_sha256 ON messages(sha256);
CREATE INDEX messages_message_id ON messages(message_id);

CREATE TABLE message_raw (
    message_id  INTEGER PRIMARY KEY REFERENCES messages(id) ON DELETE CASCADE,
    data        BLOB NOT NULL
);

CREATE TABLE recipients (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    address     TEXT NOT NULL,
    raw         TEXT,
    params      TEXT,
    reply_code  INTEGER,
    reply_text  TEXT,
    accepted    INTEGER NOT NULL,           -- 1 for a 2xx reply (250/251)
    packet      INTEGER,
    ts          REAL
);
CREATE INDEX recipients_message ON recipients(message_id);
CREATE INDEX recipients_address ON recipients(address);

CREATE TABLE headers (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    seq         INTEGER NOT NULL,
    name        TEXT NOT NULL,
    value       TEXT,                       -- unfolded, RFC 2047 decoded, UTF-8
    raw         BLOB                        -- exact bytes after the colon
);
CREATE INDEX headers_message ON headers(message_id, seq);
CREATE INDEX headers_name ON headers(name COLLATE NOCASE);

CREATE TABLE addresses (
    id          INTEGER PRIMARY KEY,
    message_id  INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    field       TEXT NOT NULL,              -- from, to, cc, bcc, reply-to, sender, return-path
    seq         INTEGER NOT NULL,
    name        TEXT,
    address     TEXT NOT NULL,
    domain      TEXT,                       -- lower-case part after the last '@'
    grp         TEXT
);
CREATE INDEX addresses_message ON addresses(message_id);
CREATE INDEX addresses_address ON addresses(address);

CREATE TABLE parts (
    id            INTEGER PRIMARY KEY,
    message_id    INTEGER NOT NULL REFERENCES messages(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    path          TEXT NOT NULL,
    content_type  TEXT,
    charset       TEXT,
    encoding      TEXT,
    disposition   TEXT,
    filename      TEXT,
    size          INTEGER,
    sha256        TEXT,
    is_attachment INTEGER NOT NULL DEFAULT 0,
    text          TEXT
);
CREATE INDEX parts_message ON parts(message_id);
CREATE INDEX parts_sha256 ON parts(sha256);

CREATE TABLE findings (
    id          INTEGER PRIMARY KEY,
    capture_id  INTEGER REFERENCES captures(id) ON DELETE CASCADE,
    session_id  INTEGER REFERENCES sessions(id) ON DELETE CASCADE,
    message_id  INTEGER REFERENCES messages(id) ON DELETE CASCADE,
    rule        TEXT NOT NULL,
    severity    TEXT NOT NULL CHECK (severity IN ('info','low','medium','high')),
    detail      TEXT,
    packet      INTEGER,
    ts          REAL
);
CREATE INDEX findings_rule ON findings(rule);
CREATE INDEX findings_session ON findings(session_id);
CREATE INDEX findings_message ON findings(message_id);

-- Views for the common questions.
CREATE VIEW v_mail AS
SELECT m.id, datetime(m.start_ts, 'unixepoch') AS time, s.client_ip, s.server_ip, s.server_port,
       m.mail_from, m.from_addr, m.subject, m.disposition, m.queue_id, m.size, m.sha256,
       (SELECT group_concat(r.address, ', ') FROM recipients r WHERE r.message_id = m.id AND r.accepted) AS recipients,
       (SELECT group_concat(r.address, ', ') FROM recipients r WHERE r.message_id = m.id AND NOT r.accepted) AS rejected_recipients,
       m.n_attachments, m.message_id
FROM messages m JOIN sessions s ON s.id = m.session_id
WHERE m.has_content;

CREATE VIEW v_attachments AS
SELECT p.id, p.message_id, m.subject, m.mail_from, p.path, p.filename, p.content_type, p.size, p.sha256
FROM parts p JOIN messages m ON m.id = p.message_id
WHERE p.is_attachment;

CREATE VIEW v_findings AS
SELECT f.id, f.severity, f.rule, f.detail, f.session_id, f.message_id,
       s.client_ip, s.server_ip, m.subject, f.packet, datetime(f.ts, 'unixepoch') AS time
FROM findings f
LEFT JOIN sessions s ON s.id = f.session_id
LEFT JOIN messages m ON m.id = f.message_id;
