#!/usr/bin/env python3
"""Checks smtpsift's database against samples/EXPECTED.tsv and the attachment
table of samples/EXPECTED.md: ground truth written down when the samples were
made, from the client's own .eml files and an independent pcap reader (not
from smtpsift). Usage: check_expected.py SMTPSIFT SAMPLES_DIR"""
import csv
import os
import sqlite3
import subprocess
import sys
import tempfile

smtpsift, samples = sys.argv[1], sys.argv[2]
failures = []
checks = 0


def check(what, expected, actual):
    global checks
    checks += 1
    if actual is None:              # a NULL column is an empty cell of EXPECTED.tsv
        actual = ""
    if str(expected) != str(actual):
        failures.append(f"{what}: expected {expected!r}, got {actual!r}")


with tempfile.TemporaryDirectory() as tmp:
    db = os.path.join(tmp, "s.db")
    r = subprocess.run([smtpsift, "ingest", "-q", "-d", db, samples], capture_output=True, text=True)
    check("ingest exit code", 0, r.returncode)
    con = sqlite3.connect(db)

    def session(capture, index):
        rows = con.execute(
            "SELECT s.id, s.client_ip, s.client_port, s.server_ip, s.server_port FROM sessions s"
            " JOIN captures c ON c.id = s.capture_id WHERE c.path LIKE ? ORDER BY s.first_packet",
            ("%/" + capture,)).fetchall()
        return rows[index - 1] if len(rows) >= index else None

    with open(os.path.join(samples, "EXPECTED.tsv"), newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    captures = sorted({r["capture"] for r in rows})
    for cap in captures:
        n = con.execute("SELECT count(*) FROM sessions s JOIN captures c ON c.id = s.capture_id"
                        " WHERE c.path LIKE ?", ("%/" + cap,)).fetchone()[0]
        check(f"{cap}: sessions", len({r['session'] for r in rows if r['capture'] == cap}), n)

    rcpt_seen = {}
    for row in rows:
        cap, where = row["capture"], f"{row['capture']} session {row['session']} txn {row['txn']}"
        s = session(cap, int(row["session"]))
        if s is None:
            failures.append(f"{where}: session missing")
            continue
        sid, cip, cport, sip, sport = s
        def hostport(ip, port):
            return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
        exp_client = row["client"]
        check(f"{where}: client", exp_client, hostport(cip, cport) if exp_client.startswith("[") else f"{cip}:{cport}")
        check(f"{where}: server", row["server"], hostport(sip, sport) if row["server"].startswith("[") else f"{sip}:{sport}")
        m = con.execute(
            "SELECT id, mail_from, data_reply_code, disposition, coalesce(queue_id,''), size, sha256, subject,"
            " from_name, from_addr, message_id FROM messages WHERE session_id=? AND seq=?",
            (sid, int(row["txn"]) - 1)).fetchone()
        if m is None:
            failures.append(f"{where}: message missing")
            continue
        mid, mail_from, data_code, disp, qid, size, sha, subject, from_name, from_addr, msgid = m
        check(f"{where}: mail_from", row["mail_from"], mail_from)
        check(f"{where}: data reply", row["data_code"], data_code)
        check(f"{where}: disposition", row["disposition"], disp)
        check(f"{where}: queue id", row["queue_id"], qid)
        check(f"{where}: size", row["message_bytes"], size)
        check(f"{where}: sha256", row["message_sha256"], sha)
        check(f"{where}: subject", row["subject"], subject)
        check(f"{where}: from", row["from"], f"{from_name} <{from_addr}>" if from_name else from_addr)
        check(f"{where}: message-id", row["message_id"], f"<{msgid}>" if msgid is not None else "")
        k = rcpt_seen.setdefault(mid, 0)
        rcpt_seen[mid] = k + 1
        rc = con.execute("SELECT address, reply_code, accepted FROM recipients WHERE message_id=? AND seq=?",
                         (mid, k)).fetchone()
        if rc is None:
            failures.append(f"{where}: recipient {k + 1} missing")
            continue
        check(f"{where}: rcpt {k + 1}", row["rcpt"], rc[0])
        check(f"{where}: rcpt {k + 1} code", row["rcpt_code"], rc[1])
        check(f"{where}: rcpt {k + 1} accepted", 1 if row["rcpt_code"].startswith("2") else 0, rc[2])
    for mid, k in rcpt_seen.items():
        n = con.execute("SELECT count(*) FROM recipients WHERE message_id=?", (mid,)).fetchone()[0]
        check(f"message {mid}: recipient count", k, n)

    # Attachments of attachments.pcap (EXPECTED.md: hashed with sha256sum on the source files).
    att = con.execute(
        "SELECT p.filename, p.content_type, p.size, p.sha256 FROM parts p JOIN messages m ON m.id = p.message_id"
        " JOIN sessions s ON s.id = m.session_id JOIN captures c ON c.id = s.capture_id"
        " WHERE c.path LIKE '%/attachments.pcap' AND p.is_attachment ORDER BY p.seq").fetchall()
    check("attachments", [
        ("sample-20k.bin", "application/octet-stream", 20480,
         "f8e0cdd30b4bc93570308670ea7906b0f638eff0e6ca21445120f8a593d83f4b"),
        ("Übersicht-Q3.pdf", "application/pdf", 606,
         "0bf874f0434ac6b27d569d5f02f80231dd32418103bcbd8e45bd8401ee52930a"),
    ], att)
    # From display name with non-ASCII, decoded.
    check("attachments.pcap From", ("Jürgen Müller",), con.execute(
        "SELECT from_name FROM messages WHERE subject = 'Grüße – Quartalsbericht'").fetchone())

    # AUTH and STARTTLS samples (samples/EXPECTED_PROTOCOL.tsv, read from the swaks logs and
    # tshark, see EXPECTED.md): TLS facts of the session and each AUTH attempt, exactly.
    with open(os.path.join(samples, "EXPECTED_PROTOCOL.tsv"), newline="") as f:
        proto = list(csv.DictReader(f, delimiter="\t"))
    for row in proto:
        where = f"{row['capture']} session {row['session']}"
        s = session(row["capture"], int(row["session"]))
        if s is None:
            failures.append(f"{where}: session missing")
            continue
        got = con.execute("SELECT starttls_offered, tls, coalesce(tls_offset_packet,''), coalesce(tls_version,''),"
                          " coalesce(tls_sni,'') FROM sessions WHERE id=?", (s[0],)).fetchone()
        check(f"{where}: starttls_offered/tls/tls_offset_packet/tls_version/tls_sni",
              (row["starttls_offered"], row["tls"], row["tls_offset_packet"], row["tls_version"], row["tls_sni"]),
              tuple(str(x) for x in got))
        auths = con.execute("SELECT seq, mechanism, coalesce(username,''), coalesce(password,''),"
                            " coalesce(outcome_code,0), packet FROM auth_attempts WHERE session_id=? ORDER BY seq",
                            (s[0],)).fetchall()
        want = [(row["auth_seq"], row["mechanism"], row["username"], row["password"], row["outcome_code"],
                 row["auth_packet"])] if row["mechanism"] else []
        check(f"{where}: auth attempts", want, [tuple(str(x) for x in a) for a in auths])
    # --redact-secrets keeps user and mechanism, stores no password and no SASL data.
    rdb = os.path.join(tmp, "r.db")
    subprocess.run([smtpsift, "ingest", "-q", "--redact-secrets", "-d", rdb,
                    os.path.join(samples, "auth_plain.pcap")], check=True)
    rcon = sqlite3.connect(rdb)
    check("redacted auth_plain.pcap: auth", [("PLAIN", "alice@example.test", None)],
          rcon.execute("SELECT mechanism, username, password FROM auth_attempts").fetchall())
    check("redacted auth_plain.pcap: AUTH command", [("PLAIN", b"AUTH PLAIN")],
          rcon.execute("SELECT args, line FROM commands WHERE verb='AUTH'").fetchall())
    rcon.close()

    # SMTPUTF8, 8BITMIME and XCLIENT samples (make_ext.sh, EXPECTED.md): the findings stored
    # for each capture (rule, packet) and the XCLIENT assertion with its 220 reply.
    def findings(capture):
        return con.execute(
            "SELECT f.rule, f.packet FROM findings f JOIN captures c ON c.id = f.capture_id"
            " WHERE c.path LIKE ? AND f.session_id IS NOT NULL ORDER BY f.packet, f.rule",
            ("%/" + capture,)).fetchall()
    check("smtputf8.pcap findings",
          [("utf8_without_smtputf8", 17), ("eightbit_without_8bitmime", 23)], findings("smtputf8.pcap"))
    check("eightbit.pcap findings", [("eightbit_without_8bitmime", 23)], findings("eightbit.pcap"))
    check("xclient.pcap findings", [], findings("xclient.pcap"))
    check("xclient.pcap xclient rows",
          [("XCLIENT", "ADDR=198.51.100.7 NAME=spoofed.example HELO=fake.example", 220, 9)],
          con.execute("SELECT x.verb, x.attributes, x.reply_code, x.packet FROM xclient x"
                      " JOIN sessions s ON s.id = x.session_id JOIN captures c ON c.id = s.capture_id"
                      " WHERE c.path LIKE '%/xclient.pcap' ORDER BY x.seq").fetchall())

for f in failures:
    print("FAIL:", f)
print(f"{checks - len(failures)} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
