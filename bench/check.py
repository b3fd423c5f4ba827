#!/usr/bin/env python3
"""check.py — compares what a tool found with bench_gen's ground truth (TSV).

  check.py sift DB TRUTH.tsv        smtpsift database: every message expected complete must be
                                    present with the exact session 4-tuple, envelope (MAIL FROM,
                                    accepted and rejected RCPTs), decoded Subject and attachments
                                    (filename, decoded size, SHA-256).
  check.py queries DB TRUTH.tsv     times the benchmark's queries (each 5 times, median in ms).
  check.py tshark DIR TRUTH.tsv     tshark --export-objects imf: .eml files, matched by decoded
                                    Subject (tshark gives no envelope).
Prints key=value lines (found, expected, ...) and the first mismatches on stderr.
Exit 0 when every complete message was found exactly, 1 otherwise. Standard library only."""
import email
import email.policy
import os
import sqlite3
import sys
from collections import Counter


def load_truth(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        header = None
        for line in f:
            line = line.rstrip("\n")
            if line.startswith("#"):
                continue
            cols = line.split("\t")
            if header is None:
                header = cols
                continue
            r = dict(zip(header, cols))
            r["atts"] = sorted(tuple(a.split(":", 2)) for a in r["attachments"].split("|") if a)
            rows.append(r)
    return rows


def split_list(s):
    return sorted(x for x in s.split(",") if x)


def check_sift(db, truth):
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    got = {}
    q = """SELECT m.id, m.message_id, m.mail_from, m.subject, s.client_ip, s.client_port,
                  s.server_ip, s.server_port
           FROM messages m JOIN sessions s ON s.id = m.session_id WHERE m.message_id IS NOT NULL"""
    for mid, msgid, mf, subj, cip, cport, sip, sport in con.execute(q):
        got.setdefault(msgid, []).append(dict(id=mid, mail_from=mf, subject=subj,
                                              tuple=(cip, str(cport), sip, str(sport))))
    rc = {}
    for mid, addr, acc in con.execute("SELECT message_id, address, accepted FROM recipients"):
        rc.setdefault(mid, ([], []))[0 if acc else 1].append(addr)
    at = {}
    for mid, fn, size, sha in con.execute(
            "SELECT message_id, filename, size, sha256 FROM parts WHERE is_attachment"):
        at.setdefault(mid, []).append((sha or "", str(size), fn or ""))
    expected = [r for r in truth if r["expected"] == "complete"]
    found, bad, missing = 0, [], []
    for r in expected:
        cands = got.get(r["message_id"], [])
        if not cands:
            missing.append(r["n"])
            continue
        g = cands[0]
        ok_rc, bad_rc = rc.get(g["id"], ([], []))
        diffs = []
        if len(cands) != 1:
            diffs.append("stored %d times" % len(cands))
        want_tuple = (r["client_ip"], r["client_port"], r["server_ip"], r["server_port"])
        if g["tuple"] != want_tuple:
            diffs.append("tuple %s != %s" % (g["tuple"], want_tuple))
        if g["mail_from"] != r["mail_from"]:
            diffs.append("mail_from %r != %r" % (g["mail_from"], r["mail_from"]))
        if sorted(ok_rc) != split_list(r["rcpt_accepted"]):
            diffs.append("accepted %s != %s" % (sorted(ok_rc), split_list(r["rcpt_accepted"])))
        if sorted(bad_rc) != split_list(r["rcpt_rejected"]):
            diffs.append("rejected %s != %s" % (sorted(bad_rc), split_list(r["rcpt_rejected"])))
        if g["subject"] != r["subject"]:
            diffs.append("subject %r != %r" % (g["subject"], r["subject"]))
        if sorted(at.get(g["id"], [])) != r["atts"]:
            diffs.append("attachments %s != %s" % (sorted(at.get(g["id"], [])), r["atts"]))
        if diffs:
            bad.append((r["n"], diffs))
        else:
            found += 1
    incomplete = [r for r in truth if r["expected"] != "complete"]
    inc_seen = sum(1 for r in incomplete if r["message_id"] in got)
    total_db = con.execute("SELECT count(*) FROM messages").fetchone()[0]
    print("found=%d" % found)
    print("expected=%d" % len(expected))
    print("missing=%d" % len(missing))
    print("wrong=%d" % len(bad))
    print("incomplete_in_truth=%d" % len(incomplete))
    print("incomplete_seen=%d" % inc_seen)
    print("db_messages=%d" % total_db)
    for n, d in bad[:10]:
        print("message %s: %s" % (n, "; ".join(d)), file=sys.stderr)
    if missing:
        print("missing messages (truth n): %s" % " ".join(missing[:20]), file=sys.stderr)
    return found == len(expected)


def check_tshark(d, truth):
    subjects = Counter()
    n_eml = 0
    for name in sorted(os.listdir(d)):
        try:
            with open(os.path.join(d, name), "rb") as f:
                m = email.message_from_binary_file(f, policy=email.policy.default)
            n_eml += 1
            s = m.get("subject")
            if s is not None:
                subjects[str(s)] += 1
        except Exception:   # a damaged export still counts as a file
            n_eml += 1
    expected = [r for r in truth if r["expected"] == "complete"]
    found = 0
    for r in expected:
        if subjects[r["subject"]] > 0:
            subjects[r["subject"]] -= 1
            found += 1
    print("found=%d" % found)
    print("expected=%d" % len(expected))
    print("eml_files=%d" % n_eml)
    return found == len(expected)


def time_queries(db, truth):
    """The issue's four queries on the database; key=value lines: ms (median of 5) and rows."""
    import statistics
    import time
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    complete = [r for r in truth if r["expected"] == "complete"]
    sender = Counter(r["mail_from"] for r in complete).most_common(1)[0][0] if complete else ""
    sha = next((a[0] for r in complete for a in r["atts"]), "")
    tables = {n for (n,) in con.execute("SELECT name FROM sqlite_master WHERE type IN ('table','view')")}
    row = con.execute("SELECT rule FROM findings GROUP BY rule ORDER BY count(*) DESC LIMIT 1").fetchone()
    rule = row[0] if row else ""
    queries = [
        ("q_sender", "SELECT id, subject FROM messages WHERE mail_from = ?", (sender,)),
        ("q_attachment_sha256", "SELECT m.id, m.subject, p.filename FROM parts p "
         "JOIN messages m ON m.id = p.message_id WHERE p.sha256 = ?", (sha,)),
        ("q_fulltext", "SELECT m.id, m.subject FROM message_search s JOIN messages m ON m.id = s.rowid "
         "WHERE message_search MATCH ?", ("zebrafish",)) if "message_search" in tables else None,
        ("q_findings_rule", "SELECT id, session_id, message_id, detail FROM findings WHERE rule = ?", (rule,)),
    ]
    print("q_args=sender:%s sha256:%s word:zebrafish rule:%s" % (sender, sha[:16], rule))
    for q in queries:
        if q is None:
            print("q_fulltext=absent")
            continue
        name, sql, args = q
        times, n = [], 0
        for _ in range(5):
            t0 = time.perf_counter()
            n = len(con.execute(sql, args).fetchall())
            times.append((time.perf_counter() - t0) * 1000)
        print("%s=%.2f ms (%d rows)" % (name, statistics.median(times), n))
    return True


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("sift", "tshark", "queries"):
        print(__doc__, file=sys.stderr)
        return 2
    truth = load_truth(sys.argv[3])
    if sys.argv[1] == "queries":
        return 0 if time_queries(sys.argv[2], truth) else 1
    ok = check_sift(sys.argv[2], truth) if sys.argv[1] == "sift" else check_tshark(sys.argv[2], truth)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
