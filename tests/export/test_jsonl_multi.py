#!/usr/bin/env python3
"""test_jsonl_multi.py BIN SAMPLES — `export --jsonl` and several databases
at once. Two databases from separate ingests (attachments + multi_rcpt_reject,
and multi_txn); every exported line must parse with Python's json module and
carry the exact Zeek smtp.log and ECS values of the samples; `query -d a -d b`
must see both databases in `messages` and `v_mail`, with joins on ids staying
inside one database."""
import json
import os
import subprocess
import sys
import tempfile

binary, samples = os.path.abspath(sys.argv[1]), sys.argv[2]
fails = []


def check(name, expected, actual):
    if expected != actual:
        fails.append(f"{name}: expected {expected!r}, got {actual!r}")


def run(*args, **kw):
    return subprocess.run([binary] + list(args), capture_output=True, **kw)


def main():
    tmp = tempfile.mkdtemp(prefix="sift_jsonl_")
    a, b = os.path.join(tmp, "a.db"), os.path.join(tmp, "b.db")
    run("ingest", "-q", "-d", a, os.path.join(samples, "attachments.pcap"),
        os.path.join(samples, "multi_rcpt_reject.pcap"), check=True)
    run("ingest", "-q", "-d", b, os.path.join(samples, "multi_txn.pcap"), check=True)

    # ---- export --jsonl to stdout: one valid JSON object per line ----
    r = run("export", "--jsonl", "-", "-d", a)
    check("export exit", 0, r.returncode)
    raw = r.stdout
    check("valid UTF-8", True, bool(raw.decode("utf-8")))
    lines = raw.decode("utf-8").splitlines()
    check("lines", 2, len(lines))
    objs = [json.loads(l) for l in lines]
    by_subject = {o["subject"]: o for o in objs}
    att = by_subject["Grüße – Quartalsbericht"]
    zeek = {k: att[k] for k in ("uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "trans_depth", "helo",
                                "mailfrom", "rcptto", "from", "to", "cc", "msg_id", "date", "last_reply", "tls",
                                "path")}
    check("zeek fields", {
        "uid": "S3649004822d9ee6", "id.orig_h": "127.0.0.2", "id.orig_p": 46725, "id.resp_h": "127.0.0.1",
        "id.resp_p": 25, "trans_depth": 1, "helo": "client.example.test",
        "mailfrom": "juergen.mueller@client.example.test", "rcptto": ["finance@example.test"],
        "from": "Jürgen Müller <juergen.mueller@client.example.test>",
        "to": ["Finance Team <finance@example.test>"], "cc": [],
        "msg_id": "<attachments.20250106@client.example.test>", "date": "Mon, 06 Jan 2025 10:03:00 +0000",
        "last_reply": "250 2.0.0 Ok: queued as 4E8771103FE", "tls": False, "path": ["127.0.0.1", "127.0.0.2"],
    }, zeek)
    check("ts is the packet time", True, isinstance(att["ts"], float) and att["ts"] > 1.7e9)
    check("fuids", ["Ff8e0cdd30b4bc93", "F0bf874f0434ac6b"], att["fuids"])
    ecs = {k: att[k] for k in ("email.from.address", "email.to.address", "email.subject", "email.message_id",
                               "email.local_id", "email.origination_timestamp", "source.ip", "destination.port",
                               "network.protocol")}
    check("ecs fields", {
        "email.from.address": ["juergen.mueller@client.example.test"], "email.to.address": ["finance@example.test"],
        "email.subject": "Grüße – Quartalsbericht", "email.message_id": "attachments.20250106@client.example.test",
        "email.local_id": "4E8771103FE", "email.origination_timestamp": "2025-01-06T10:03:00Z",
        "source.ip": "127.0.0.2", "destination.port": 25, "network.protocol": "smtp",
    }, ecs)
    check("ecs attachments", [
        {"file.name": "sample-20k.bin", "file.mime_type": "application/octet-stream", "file.size": 20480,
         "file.hash.sha256": "f8e0cdd30b4bc93570308670ea7906b0f638eff0e6ca21445120f8a593d83f4b"},
        {"file.name": "Übersicht-Q3.pdf", "file.mime_type": "application/pdf", "file.size": 606,
         "file.hash.sha256": "0bf874f0434ac6b27d569d5f02f80231dd32418103bcbd8e45bd8401ee52930a"},
    ], att["email.attachments"])
    check("@timestamp form", True, att["@timestamp"].endswith("Z") and att["@timestamp"][10] == "T")
    rej = by_subject["smtpsift three recipients one rejected"]
    check("rcptto has every RCPT (Zeek)", ["mrr-one@example.test", "rejected@example.test", "mrr-three@example.test"],
          rej["rcptto"])
    check("accepted recipients", ["mrr-one@example.test", "mrr-three@example.test"], rej["smtpsift.rcptto_accepted"])

    # ---- to a file, from two databases ----
    out = os.path.join(tmp, "all.jsonl")
    r = run("export", "--jsonl", out, "-d", a, "-d", b)
    check("export file exit", 0, r.returncode)
    check("export summary", f"smtpsift: {out}: 5 messages written\n", r.stderr.decode())
    objs = [json.loads(l) for l in open(out, encoding="utf-8")]
    txn = [(o["trans_depth"], o["subject"]) for o in objs if o["uid"] == "S8ff680347b7e9cb"]
    check("multi txn depths", [(1, "smtpsift multi txn 1 of 3"), (2, "smtpsift multi txn 2 of 3"),
                               (3, "smtpsift multi txn 3 of 3")], txn)

    # ---- query over two databases ----
    def q(sql, *dbs):
        args = ["query", "--csv"]
        for d in dbs:
            args += ["-d", d]
        r = run(*args, sql)
        if r.returncode != 0:
            fails.append(f"query {sql!r} failed: {r.stderr.decode()}")
        return r.stdout.decode().replace("\r", "").splitlines()[1:]

    check("messages per db", [f"{a},2", f"{b},3"],
          q("SELECT db, count(*) FROM messages GROUP BY db ORDER BY db", a, b))
    check("v_mail covers both", 5, len(q("SELECT id FROM v_mail", a, b)))
    # joins on ids stay in one database: each message finds exactly its own session
    check("join on ids", ["5"], q("SELECT count(*) FROM messages m JOIN sessions s ON s.id = m.session_id", a, b))
    check("recipients of db b", ["txn1-rcpt@example.test", "txn2-rcpt-a@example.test", "txn2-rcpt-b@example.test",
                                 "txn3-rcpt@example.test"],
          q(f"SELECT r.address FROM recipients r JOIN messages m ON m.id = r.message_id WHERE m.db = '{b}'"
            " ORDER BY r.address", a, b))
    check("ids: first db as in its file, second offset by 2^40",
          ["1,S3649004822d9ee6", "2,Sc0ff7e54d49b0d2", "1099511627777,S8ff680347b7e9cb"],
          q("SELECT m.id, s.uid FROM messages m JOIN sessions s ON s.id = m.session_id WHERE m.seq = 0"
            " ORDER BY m.id", a, b))
    check("single db has no db column", ["id"], q("SELECT name FROM pragma_table_info('messages') WHERE name IN ('db','id')", a))
    r = run("query", "-d", a, "-d", os.path.join(tmp, "none.db"), "SELECT 1")
    check("missing second db exit", 1, r.returncode)
    check("missing second db message", True, b"none.db: no such database" in r.stderr)
    notdb = os.path.join(tmp, "notes.txt")
    open(notdb, "w").write("not a database at all, just text\n" * 10)
    r = run("query", "-d", a, "-d", notdb, "SELECT 1")
    check("not a database exit", 1, r.returncode)
    check("not a database names the file", True, b"notes.txt" in r.stderr)

    for f in fails:
        print("FAIL:", f)
    if not fails:
        print("export --jsonl and query over two databases: all values as expected")
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
