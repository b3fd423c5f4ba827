#!/usr/bin/env python3
"""Crash safety: SIGKILL an ingest of a 1,200-session capture (1,600 messages
with attachments) right after a batch commit and at seeded random moments,
then check the database.

"Whole message" (schema/001_init.sql and later): a messages row is whole when
every row that belongs to it is there — for has_content = 1 its message_raw
row (length(data) = size), n_recipients recipients rows, n_parts parts rows
(n_attachments of them is_attachment), its headers, addresses, received rows,
its findings and its full-text row. The test checks the counts stated in the
messages row, and, stronger, that every message visible after a kill dumps
exactly like the same message (same session uid and seq) of an uninterrupted
run, all child rows included.

After every kill: PRAGMA integrity_check = ok, the FTS5 index matches its
content, no half-written message, the capture row says 'running'; then the
same ingest again prints "removed rows of an earlier unfinished ingest",
exits 0, and the database dumps exactly like an uninterrupted run's (all tables
below, row ids and the wall-clock ingests table left out). One database is
killed twice before a run completes. Usage: test_crash.py SMTPSIFT [SEED]"""
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import safecap  # noqa: E402

BIN = sys.argv[1]
SEED = int(sys.argv[2]) if len(sys.argv) > 2 else 8
N_SESSIONS = 1200
N_MESSAGES = N_SESSIONS + (N_SESSIONS + 2) // 3   # every third session has two

fails = 0
passes = 0


def check(name, cond, detail=""):
    global fails, passes
    if cond:
        passes += 1
    else:
        fails += 1
        print("FAIL: %s %s" % (name, detail), flush=True)


# Tables dumped, with the columns that hold row ids of other tables: those are
# replaced by natural keys (a capture's sha256, a session's uid, uid/seq of a message).
TABLES = ["captures", "sessions", "extensions", "commands", "messages", "message_raw",
          "recipients", "headers", "addresses", "parts", "findings", "auth_attempts",
          "xclient", "received", "auth_results", "dkim_signatures", "urls"]
CAPTURE_REF = "(SELECT sha256 FROM captures WHERE id = t.%s)"
SESSION_REF = "(SELECT uid FROM sessions WHERE id = t.%s)"
MESSAGE_REF = ("(SELECT s.uid || '/' || m.seq FROM messages m JOIN sessions s ON s.id = m.session_id"
               " WHERE m.id = t.%s)")


def column_sql(table, col):
    if col in ("capture_id", "last_capture_id", "cmd_capture_id", "reply_capture_id"):
        return CAPTURE_REF % col
    if col == "session_id":
        return SESSION_REF % col
    if col == "message_id" and table != "messages":   # messages.message_id is the Message-ID header
        return MESSAGE_REF % col
    if table == "message_raw" and col == "data":
        return "sha256_of_blob"                      # placeholder, see dump()
    return "t." + col


def dump(db):
    """{table: sorted list of rows} without row ids or ingest ids."""
    con = sqlite3.connect(db)
    out = {}
    for table in TABLES:
        cols = [r[1] for r in con.execute("PRAGMA table_info(%s)" % table)
                if r[1] not in ("id", "ingest_id")]
        exprs = []
        for c in cols:
            e = column_sql(table, c)
            exprs.append("length(t.data) || ':' || hex(substr(t.data, 1, 64)) || hex(substr(t.data, -64))"
                         if e == "sha256_of_blob" else e)
        rows = con.execute("SELECT %s FROM %s t" % (", ".join(exprs), table)).fetchall()
        out[table] = sorted(rows, key=repr)
    con.close()
    return out


def message_dumps(db):
    """{uid/seq: repr of the message row and every row that belongs to it}."""
    con = sqlite3.connect(db)
    keys = {}
    for mid, key in con.execute("SELECT m.id, s.uid || '/' || m.seq FROM messages m"
                                " JOIN sessions s ON s.id = m.session_id"):
        keys[mid] = key
    per = {k: [] for k in keys.values()}
    for mid, row in [(r[0], r[1:]) for r in con.execute(
            "SELECT id, session_id, seq, mail_from, disposition, has_content, size, sha256, truncated,"
            " parsed, subject, from_addr, n_recipients, n_accepted, n_parts, n_attachments,"
            " first_packet, last_packet, x_mailer FROM messages")]:
        per[keys[mid]].append(("messages",) + row[1:])
    children = {
        "message_raw": "length(data), hex(substr(data, 1, 32)), hex(substr(data, -32))",
        "recipients": "seq, address, raw, reply_code, reply_text, accepted, packet",
        "headers": "seq, name, value, hex(raw)",
        "addresses": "field, seq, name, address, domain",
        "parts": "seq, path, content_type, filename, size, sha256, is_attachment, text, md5, magic_type",
        "received": "seq, from_name, from_ip, by_name, raw",
        "findings": "rule, severity, detail, packet",
    }
    for table, cols in children.items():
        for r in con.execute("SELECT message_id, %s FROM %s WHERE message_id IS NOT NULL" % (cols, table)):
            per[keys[r[0]]].append((table,) + r[1:])
    con.close()
    return {k: sorted(v, key=repr) for k, v in per.items()}


def first_diff(a, b):
    for table in TABLES:
        if a[table] != b[table]:
            sa, sb = set(a[table]), set(b[table])
            return "%s: %d vs %d rows; only in one: %r / %r" % (
                table, len(a[table]), len(b[table]), sorted(sa - sb, key=repr)[:2],
                sorted(sb - sa, key=repr)[:2])
    return ""


def ingest(db, cap):
    return subprocess.run([BIN, "ingest", "--store-raw", "-d", db, cap], stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, env=ENV)


def committed_messages(db):
    try:
        con = sqlite3.connect("file:%s?mode=ro" % db, uri=True, timeout=0.2)
        n = con.execute("SELECT count(*) FROM messages").fetchone()[0]
        con.close()
        return n
    except sqlite3.Error:
        return 0


def kill_after_commit(db, cap, n):
    """Ingest that SIGKILLs itself right after its nth batch commit (the store's
    fault injection, SIFT_TEST_KILL_AFTER_COMMIT): the moment a batch boundary
    inside a message would show. Returns the exit status."""
    env = dict(ENV, SIFT_TEST_KILL_AFTER_COMMIT=str(n))
    return subprocess.run([BIN, "ingest", "-q", "--store-raw", "-d", db, cap], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, env=env).returncode


def kill_after(db, cap, delay):
    """Starts an ingest and SIGKILLs it after `delay` seconds. Returns True if
    it was still running then."""
    p = subprocess.Popen([BIN, "ingest", "-q", "--store-raw", "-d", db, cap], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL, env=ENV)
    try:
        p.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        pass
    running = p.poll() is None
    p.send_signal(signal.SIGKILL)
    p.wait()
    return running


def check_after_kill(name, db):
    con = sqlite3.connect(db)
    check(name + ": integrity_check", con.execute("PRAGMA integrity_check").fetchall() == [("ok",)])
    check(name + ": foreign_key_check", con.execute("PRAGMA foreign_key_check").fetchall() == [])
    try:
        con.execute("INSERT INTO message_search(message_search, rank) VALUES ('integrity-check', 1)")
        con.commit()
        check(name + ": full-text index", True)
    except sqlite3.Error as e:
        check(name + ": full-text index", False, str(e))
    st = [r[0] for r in con.execute("SELECT status FROM captures")]
    n = con.execute("SELECT count(*) FROM messages").fetchone()[0]
    # Killed before its first commit, a run leaves no capture row (nor any other).
    check(name + ": capture still 'running'", st == ["running"] or (st == [] and n == 0), repr(st))
    # Counts the messages row states (schema/README.md: messages).
    bad = con.execute(
        "SELECT count(*) FROM messages m WHERE"
        " (m.has_content AND (SELECT count(*) FROM message_raw r WHERE r.message_id = m.id"
        "                     AND length(r.data) = m.size) <> 1)"
        " OR (SELECT count(*) FROM recipients r WHERE r.message_id = m.id) <> m.n_recipients"
        " OR (SELECT count(*) FROM parts p WHERE p.message_id = m.id) <> m.n_parts"
        " OR (SELECT count(*) FROM parts p WHERE p.message_id = m.id AND p.is_attachment) <> m.n_attachments"
        " OR (m.parsed AND NOT EXISTS (SELECT 1 FROM headers h WHERE h.message_id = m.id))"
        " OR (m.has_content AND NOT EXISTS (SELECT 1 FROM message_search s WHERE s.rowid = m.id))"
    ).fetchone()[0]
    check(name + ": no message row without all its rows", bad == 0, "%d messages" % bad)
    con.close()
    partial = message_dumps(db)
    wrong = [k for k, v in partial.items() if CLEAN_MSGS.get(k) != v]
    check(name + ": every visible message equals the uninterrupted run's", not wrong,
          "%d of %d differ, e.g. %s: %r vs %r" % (len(wrong), len(partial), wrong[0] if wrong else "",
                                                   partial[wrong[0]] if wrong else "",
                                                   CLEAN_MSGS.get(wrong[0]) if wrong else ""))
    return n


def rerun(name, db, cap):
    r = ingest(db, cap)
    check(name + ": re-run exit 0", r.returncode == 0, r.stderr)
    check(name + ": re-run redoes the file", "removed rows of an earlier unfinished ingest" in r.stderr,
          r.stderr)
    d = dump(db)
    check(name + ": re-run gives the rows of an uninterrupted run", d == CLEAN, first_diff(d, CLEAN))
    con = sqlite3.connect(db)
    st = con.execute("SELECT group_concat(status, ' ') FROM (SELECT status FROM ingests ORDER BY id)").fetchone()[0]
    con.close()
    return st


ENV = dict(os.environ, G_SLICE="always-malloc")
with tempfile.TemporaryDirectory() as tmp:
    cap = os.path.join(tmp, "mail.pcap")
    safecap.write_mail(N_SESSIONS, cap)
    clean_db = os.path.join(tmp, "clean.db")
    t0 = time.time()
    r = ingest(clean_db, cap)
    clean_s = time.time() - t0
    check("clean run exit 0", r.returncode == 0, r.stderr)
    CLEAN = dump(clean_db)
    CLEAN_MSGS = message_dumps(clean_db)
    check("clean run: all messages", len(CLEAN["messages"]) == N_MESSAGES, str(len(CLEAN["messages"])))
    check("clean run: all attachments", sum(1 for p in CLEAN["parts"] if p[10] == 1) == N_MESSAGES)
    con = sqlite3.connect(clean_db)
    st = con.execute("SELECT group_concat(status) FROM captures").fetchone()[0]
    con.close()
    check("clean run: one complete capture", st == "complete", st)

    rng = random.Random(SEED)

    def killed(name, db, n_min, n_max):
        n = check_after_kill(name, db)
        print("%s: killed with %d of %d messages visible" % (name, n, N_MESSAGES), flush=True)
        check(name + ": messages visible in [%d, %d)" % (n_min, n_max), n_min <= n < n_max, str(n))

    # Right after the first batch commit, and after the last one (near the end).
    for name, n, lo in (("after the first commit", 1, 1), ("after the last commit", 2, N_MESSAGES // 2)):
        db = os.path.join(tmp, "c%d.db" % n)
        rc = kill_after_commit(db, cap, n)
        check(name + ": killed", rc == -signal.SIGKILL, str(rc))
        killed(name, db, lo, N_MESSAGES)
        st = rerun(name, db, cap)
        check(name + ": run statuses", st == "running complete", st)

    # At a seeded random moment mid-way (a run that finished first, on a loaded
    # machine, is retried on a new database with half the delay), then the
    # re-run killed right after its first commit, then a run to completion.
    delay = rng.uniform(0.4, 0.6) * clean_s
    for attempt in range(4):
        db = os.path.join(tmp, "r%d.db" % attempt)
        if kill_after(db, cap, delay):
            break
        delay /= 2
    else:
        check("random kill came before the end of the run", False)
    killed("random kill mid-way (%.2f s)" % delay, db, 0, N_MESSAGES)
    rc = kill_after_commit(db, cap, 1)
    check("re-run killed", rc == -signal.SIGKILL, str(rc))
    killed("re-run killed", db, 1, N_MESSAGES)
    st = rerun("killed twice", db, cap)
    check("killed twice: run statuses", st == "running running complete", st)
    print("clean run %.1f s" % clean_s)

print("%d passed, %d failed" % (passes, fails))
sys.exit(1 if fails else 0)
