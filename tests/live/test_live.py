#!/usr/bin/env python3
"""test_live.py BIN — `smtpsift live` end to end on loopback: a tiny SMTP
server (smtp_server.py) on 127.0.0.1:<free port>, `smtpsift live -i lo -Z
nobody "tcp port <port>"` in the background, three mails sent with smtplib;
the database must show them within 20 s while the capture runs (commit every
second), and after SIGINT the process must exit 0 with every session closed
and the run recorded complete. Needs root (CAP_NET_RAW): exits 77 (skipped)
otherwise, saying so."""
import os
import pwd
import signal
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from smtp_server import TinySMTP  # noqa: E402

SKIP = 77
fails = []


def check(name, expected, actual):
    if expected != actual:
        fails.append(f"{name}: expected {expected!r}, got {actual!r}")


def main():
    binary = os.path.abspath(sys.argv[1])
    if os.geteuid() != 0:
        print("SKIP: live capture needs root (CAP_NET_RAW); run as root to test it")
        return SKIP
    try:
        nobody = pwd.getpwnam("nobody")
    except KeyError:
        print("SKIP: no user 'nobody' to drop privileges to")
        return SKIP
    tmp = tempfile.mkdtemp(prefix="sift_live_")
    os.chmod(tmp, 0o777)          # the database is created after -Z nobody
    db = os.path.join(tmp, "live.db")
    errpath = os.path.join(tmp, "stderr.txt")
    srv = TinySMTP()
    port = srv.port
    errf = open(errpath, "w")
    proc = subprocess.Popen([binary, "live", "-i", "lo", "-d", db, "-Z", "nobody", "tcp", "port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=errf)
    try:
        # wait until the interface is open (the first stderr line)
        deadline = time.time() + 10
        while time.time() < deadline and "capturing on lo" not in open(errpath).read():
            if proc.poll() is not None:
                break
            time.sleep(0.05)
        started = open(errpath).read()
        if "capturing on lo" not in started:
            fails.append(f"live did not start: {started!r}")
            return 1
        time.sleep(0.3)   # the capture is open; let the first poll start
        # privileges dropped (as tcpdump -Z): real, effective and saved uid are nobody's
        with open(f"/proc/{proc.pid}/status") as st:
            uid_line = [l for l in st if l.startswith("Uid:")][0].split()[1:]
        check("uid after -Z nobody", [str(nobody.pw_uid)] * 4, uid_line)

        subjects = ["live one", "live two </script><b>", "live three ünïcode"]
        for i, subj in enumerate(subjects, 1):
            msg = EmailMessage()
            msg["From"] = f"Sender {i} <sender{i}@client.live.test>"
            msg["To"] = f"rcpt{i}@live.test"
            msg["Subject"] = subj
            msg["Message-ID"] = f"<live-{i}@client.live.test>"
            msg.set_content(f"body {i}\n")
            with smtplib.SMTP("127.0.0.1", port, local_hostname="client.live.test", timeout=10) as s:
                s.send_message(msg, from_addr=f"env{i}@client.live.test",
                               to_addrs=[f"rcpt{i}@live.test", f"cc{i}@live.test"])

        # readers see the mail while the capture still runs (commit every second)
        deadline = time.time() + 20
        n = 0
        while time.time() < deadline:
            try:
                con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
                n = con.execute("SELECT count(*) FROM messages").fetchone()[0]
                con.close()
            except sqlite3.Error:
                n = 0
            if n >= 3:
                break
            time.sleep(0.2)
        check("messages visible while live runs", 3, n)
        check("still running before SIGINT", None, proc.poll())
        proc.send_signal(signal.SIGINT)
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = "hung"
        check("exit code after SIGINT", 0, rc)
    finally:
        if proc.poll() is None:
            proc.kill()
        srv.close()
        errf.close()

    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT m.mail_from, m.subject, m.from_addr, m.message_id, m.queue_id, m.disposition,"
        " (SELECT group_concat(address, ',') FROM recipients r WHERE r.message_id = m.id),"
        " s.server_port, s.client_ip, s.helo, s.state, s.close_reason"
        " FROM messages m JOIN sessions s ON s.id = m.session_id ORDER BY m.start_ts").fetchall()
    expect = [(f"env{i}@client.live.test", subjects[i - 1], f"sender{i}@client.live.test",
               f"live-{i}@client.live.test", "Q%04d" % i, "accepted",
               f"rcpt{i}@live.test,cc{i}@live.test", port, "127.0.0.1", "client.live.test",
               "closed", "fin") for i in (1, 2, 3)]
    check("messages", expect, rows)
    check("sessions", 3, con.execute("SELECT count(*) FROM sessions").fetchone()[0])
    check("run status", [("complete",)], con.execute("SELECT status FROM ingests").fetchall())
    cap = con.execute("SELECT path, format, link_name, status, packets > 0 FROM captures").fetchall()
    check("capture row", [("live:lo", "live", "EN10MB", "complete", 1)], cap)
    check("integrity", "ok", con.execute("PRAGMA integrity_check").fetchone()[0])
    check("db owner", nobody.pw_uid, os.stat(db).st_uid)
    con.close()
    err = open(errpath).read()
    if "stopped, all committed" not in err:
        fails.append(f"no final summary on stderr: {err!r}")
    for f in fails:
        print("FAIL:", f)
    if fails:
        print("stderr of smtpsift live:\n" + err)
        return 1
    print("live: 3 messages captured and committed, exit 0 after SIGINT")
    return 0


if __name__ == "__main__":
    sys.exit(main())
