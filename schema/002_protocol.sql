-- smtpsift schema version 2: protocol depth (issue 3). TLS facts on sessions,
-- AUTH attempts, XCLIENT/XFORWARD assertions. Documented in schema/README.md.

ALTER TABLE sessions ADD COLUMN tls_offset_packet INTEGER;   -- packet of the 220 reply to STARTTLS
ALTER TABLE sessions ADD COLUMN tls_version TEXT;            -- highest version the ClientHello offered ("TLS 1.3")
ALTER TABLE sessions ADD COLUMN tls_sni TEXT;                -- server_name of the ClientHello
ALTER TABLE sessions ADD COLUMN starttls_offered INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN n_auth INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN n_auth_failed INTEGER NOT NULL DEFAULT 0;

CREATE TABLE auth_attempts (
    id            INTEGER PRIMARY KEY,
    session_id    INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,         -- commands.seq of the AUTH command
    mechanism     TEXT NOT NULL,            -- PLAIN, LOGIN, CRAM-MD5, XOAUTH2, NTLM, ...
    username      TEXT,
    password      TEXT,                     -- PLAIN and LOGIN only; NULL with --redact-secrets
    outcome_code  INTEGER,                  -- 235 success, 535 failure...; NULL: no reply seen
    outcome_text  TEXT,
    cancelled     INTEGER NOT NULL DEFAULT 0, -- the client answered a challenge with "*"
    tls           INTEGER NOT NULL DEFAULT 0, -- TLS was active (always 0: nothing inside TLS is read)
    packet        INTEGER,                  -- the AUTH command's packet
    capture_id    INTEGER REFERENCES captures(id) ON DELETE CASCADE,
    ts            REAL
);
CREATE INDEX auth_attempts_session ON auth_attempts(session_id);
CREATE INDEX auth_attempts_username ON auth_attempts(username);

CREATE TABLE xclient (
    id            INTEGER PRIMARY KEY,
    session_id    INTEGER NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,         -- commands.seq of the command
    verb          TEXT NOT NULL,            -- XCLIENT or XFORWARD
    attributes    TEXT NOT NULL,            -- as sent: "ADDR=192.0.2.1 NAME=host HELO=x LOGIN=u PROTO=ESMTP"
    reply_code    INTEGER,                  -- XCLIENT success is 220 (a new greeting); NULL: no reply
    packet        INTEGER,
    capture_id    INTEGER REFERENCES captures(id) ON DELETE CASCADE,
    ts            REAL
);
CREATE INDEX xclient_session ON xclient(session_id);

CREATE VIEW v_auth AS
SELECT a.id, datetime(a.ts, 'unixepoch') AS time, s.client_ip, s.server_ip, s.server_port,
       a.mechanism, a.username, a.password, a.outcome_code,
       CASE WHEN a.outcome_code BETWEEN 200 AND 299 THEN 1 ELSE 0 END AS success,
       a.cancelled, a.tls, a.session_id, a.packet
FROM auth_attempts a JOIN sessions s ON s.id = a.session_id;
