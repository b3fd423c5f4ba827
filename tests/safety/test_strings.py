#!/usr/bin/env python3
"""SQL injection and odd strings: one SMTP session whose HELO, envelope
addresses, subject, display name and attachment file name hold quotes, SQL
("'); DROP TABLE messages;--"), %, _, backslashes, an RTL override, invalid
UTF-8, 0x01-0xff binary (no NUL) and a 20,000-character subject. After the
ingest every table is still there, TEXT columns hold the exact strings (invalid
bytes each replaced by U+FFFD), BLOB columns the exact bytes, and the
attachment extracted with --extract is named by its SHA-256 only.
Usage: test_strings.py SMTPSIFT"""
import base64
import hashlib
import os
import sqlite3
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safecap  # noqa: E402

BIN = sys.argv[1]
fails = passes = 0


def check(name, want, got):
    global fails, passes
    if want == got:
        passes += 1
    else:
        fails += 1
        print("FAIL: %s: expected %r got %r" % (name, want, got))


SQL = b"'); DROP TABLE messages;--"
HELO = b"x" + SQL + b" %_\\\xff\xfe"
FROM = b"a'b%_" + SQL.replace(b" ", b"") + b"@example.test"
RCPT1 = b"'); DROP TABLE recipients;--@example.test".replace(b" ", b"")
RCPT2 = b"\xff\xfe\xc3(%@example.test"       # invalid UTF-8
RTL = "\u202e"
SUBJECT = ("Re: \"quoted\" 'single' %s %% _ \\ \u00fcber " % SQL.decode() + RTL + "fdp.exe ").encode() + b"y" * 20000
NAME = b"Robert'); DROP TABLE students;-- %_ \xe2\x80\xae"
FILENAME = "../../etc/passwd" + RTL + "gpj.exe"
BINARY = bytes(b for b in range(1, 256) if b not in (10, 13)) * 4   # NUL-free, no line breaks
ATTACH = bytes(range(256)) * 8
HDR_FROM = b"robert'%_{drop}@example.test"   # atext only: the header parser takes it whole
body = (b"From: \"" + NAME + b"\" <" + HDR_FROM + b">\r\nTo: <" + RCPT1 + b">\r\nSubject: " + SUBJECT + b"\r\n"
        b"X-Odd: \x80\x81 '%\\\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B'(_)+,-./:=?\"\r\n\r\n"
        b"--B'(_)+,-./:=?\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + BINARY + b"\r\n"
        b"--B'(_)+,-./:=?\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename=\"" + FILENAME.encode() + b"\"\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.encodebytes(ATTACH).replace(b"\n", b"\r\n") +
        b"--B'(_)+,-./:=?--\r\n")
conv = [(1, b"220 mx.example.test ESMTP\r\n"), (0, b"EHLO " + HELO + b"\r\n"),
        (1, b"250-mx.example.test\r\n250 PIPELINING\r\n"),
        (0, b"MAIL FROM:<" + FROM + b">\r\n"), (1, b"250 2.1.0 Ok\r\n"),
        (0, b"RCPT TO:<" + RCPT1 + b">\r\n"), (1, b"250 2.1.5 Ok\r\n"),
        (0, b"RCPT TO:<" + RCPT2 + b">\r\n"), (1, b"250 2.1.5 Ok\r\n"),
        (0, b"DATA\r\n"), (1, b"354 go\r\n"), (0, body + b".\r\n"),
        (1, b"250 2.0.0 Ok: queued as Q'1\r\n"), (0, b"QUIT\r\n"), (1, b"221 2.0.0 Bye\r\n")]


def fixed(b):
    """What the store keeps of bytes b in a TEXT column: each invalid byte -> U+FFFD."""
    return b.decode("utf-8", errors="replace")


with tempfile.TemporaryDirectory() as tmp:
    p = safecap.Pcap()
    p.smtp_session("10.0.0.1", "192.0.2.25", 40000, conv)
    cap = os.path.join(tmp, "odd.pcap")
    p.write(cap)
    db = os.path.join(tmp, "odd.db")
    ref = os.path.join(tmp, "ref.db")
    env = dict(os.environ, G_SLICE="always-malloc")
    r = subprocess.run([BIN, "ingest", "-q", "--store-raw", "-d", db, "--extract", os.path.join(tmp, "x"), cap],
                       stderr=subprocess.PIPE, text=True, env=env)
    check("ingest exit", 0, r.returncode)
    check("ingest stderr", "", r.stderr)
    subprocess.run([BIN, "ingest", "-q", "-d", ref, os.path.join(tmp, "none")], stderr=subprocess.DEVNULL,
                   env=env)
    con = sqlite3.connect(db)
    con.text_factory = bytes   # read TEXT as stored bytes: valid UTF-8 is checked, not assumed
    names = lambda c: sorted(r[0] for r in c.execute("SELECT name FROM sqlite_schema"))  # noqa: E731
    check("every table, index, view still there", names(sqlite3.connect(ref)), [n.decode() for n in names(con)])
    one = lambda sql: con.execute(sql).fetchone()  # noqa: E731
    check("messages/sessions/recipients rows", (1, 1, 2), one(
        "SELECT (SELECT count(*) FROM messages), (SELECT count(*) FROM sessions), (SELECT count(*) FROM recipients)"))
    check("helo", fixed(HELO).encode(), one("SELECT helo FROM sessions")[0])
    check("EHLO command line (BLOB, exact)", b"EHLO " + HELO, one("SELECT line FROM commands WHERE verb='EHLO'")[0])
    check("mail_from", FROM, one("SELECT mail_from FROM messages")[0])
    check("recipients", [(RCPT1,), (fixed(RCPT2).encode(),)],
          con.execute("SELECT address FROM recipients ORDER BY seq").fetchall())
    check("subject", SUBJECT, one("SELECT subject FROM messages")[0])
    check("from_name", fixed(NAME).encode(), one("SELECT from_name FROM messages")[0])
    check("from_addr", HDR_FROM, one("SELECT from_addr FROM messages")[0])
    check("queue_id", b"Q'1", one("SELECT queue_id FROM messages")[0])
    check("message_raw (BLOB, exact)", body, one("SELECT data FROM message_raw")[0])
    check("header raw (BLOB, exact)", b" \x80\x81 '%\\", one("SELECT raw FROM headers WHERE name='X-Odd'")[0])
    # undeclared 8-bit header bytes are read as Windows-1252 (GMime's fallback): 0x80 is the euro sign,
    # 0x81 (unassigned) becomes "?"
    check("header value", "\u20ac? '%\\".encode(), one("SELECT value FROM headers WHERE name='X-Odd'")[0])
    check("attachment filename", FILENAME.encode(), one("SELECT filename FROM parts WHERE is_attachment")[0])
    sha = hashlib.sha256(ATTACH).hexdigest()
    check("attachment sha256 and extracted path", (sha.encode(), sha.encode()),
          one("SELECT sha256, extracted_path FROM parts WHERE is_attachment"))
    check("extract dir holds only the SHA-256 name", [sha], sorted(os.listdir(os.path.join(tmp, "x"))))
    check("nothing written outside", sorted(["odd.pcap", "odd.db", "ref.db", "x"]),
          sorted(f for f in os.listdir(tmp) if not f.endswith(("-wal", "-shm"))))
    with open(os.path.join(tmp, "x", sha), "rb") as f:
        check("extracted bytes", ATTACH, f.read())
    text = one("SELECT text FROM parts WHERE seq = (SELECT min(seq) FROM parts WHERE content_type='text/plain')")[0]
    check("text part kept as valid UTF-8", True, text is not None and text.decode("utf-8") is not None)
    # every TEXT value of the message decodes as UTF-8
    for t in ("messages", "recipients", "sessions", "headers", "parts", "commands", "addresses"):
        cols = [c[1] for c in con.execute("PRAGMA table_info(%s)" % t) if c[2].upper() == "TEXT"]
        if not cols:
            continue
        for row in con.execute("SELECT %s FROM %s" % (", ".join(cols), t)):
            for c, v in zip(cols, row):
                try:
                    v is None or v.decode("utf-8")
                except UnicodeDecodeError:
                    check("%s.%s is valid UTF-8" % (t, c), "valid", v[:80])
    con.close()

print("%d passed, %d failed" % (passes, fails))
sys.exit(1 if fails else 0)
