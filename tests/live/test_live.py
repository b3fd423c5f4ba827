#!/usr/bin/env python3
"""test_live.py BIN — `smtpsift live` end to end on loopback against a real MTA: a private
Postfix instance (postfix_instance.py: own config, queue and data directories in a temp dir,
127.0.0.1:<free port>, everything discarded) when postfix is installed, else the tiny stdlib
server smtp_server.py as a fallback (SIFT_LIVE_MTA=tiny forces it); it prints which ran.
`smtpsift live -i lo -Z nobody "tcp port <port>"` captures while smtplib sends three mails
(1 recipient; 2 recipients; 2 recipients of which rejected@live.test gets 550 5.1.1); the
database must show them within 30 s while the capture runs (commit every second), with the
envelopes, subjects, reply codes and the queue ids of the 250 replies (cross-checked with
Postfix's log), and after SIGINT the process must exit 0 with every session closed and the
run recorded complete. The MTA is stopped and temp dirs removed on every exit path. Needs
root (CAP_NET_RAW, postfix start): exits 77 (skipped) otherwise, saying so."""
import os
import pwd
import re
import shutil
import signal
import smtplib
import sqlite3
import subprocess
import sys
import tempfile
import time
from email.message import EmailMessage

sys.dont_write_bytecode = True   # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import postfix_instance  # noqa: E402
from smtp_server import TinySMTP  # noqa: E402

SKIP = 77
fails = []
REJECT = "5.1.1 <rejected@live.test>: Recipient address rejected: Mailbox unavailable (smtpsift live test)"
SUBJECTS = ["live one", "live two </script><b>", "live three ünïcode"]
RCPTS = [["rcpt1@live.test"], ["rcpt2@live.test", "cc2@live.test"], ["rcpt3@live.test", "rejected@live.test"]]


def check(name, expected, actual):
    if expected != actual:
        fails.append(f"{name}: expected {expected!r}, got {actual!r}")


def _terminate(signum, _frame):
    raise SystemExit(128 + signum)      # run the finally blocks (stop the MTA) on SIGTERM/SIGHUP


def send_mails(port):
    """Sends the three mails, one connection each; returns what the client saw per mail:
    (greeting, [(rcpt, code, text)], data code, data text, queue id)."""
    seen = []
    for i, subj in enumerate(SUBJECTS, 1):
        msg = EmailMessage()
        msg["From"] = f"Sender {i} <sender{i}@client.live.test>"
        msg["To"] = ", ".join(RCPTS[i - 1])
        msg["Subject"] = subj
        msg["Message-ID"] = f"<live-{i}@client.live.test>"
        msg.set_content(f"body {i}\n")
        s = smtplib.SMTP(local_hostname="client.live.test", timeout=10)
        try:
            _, greeting = s.connect("127.0.0.1", port)
            s.ehlo()
            check(f"mail {i}: MAIL reply", 250, s.mail(f"env{i}@client.live.test")[0])
            rcpts = []
            for r in RCPTS[i - 1]:
                code, text = s.rcpt(r)
                rcpts.append((r, code, text.decode()))
            code, text = s.data(msg.as_bytes())
            text = text.decode()
            m = re.search(r"queued as ([0-9A-Za-z]+)$", text)
            seen.append((greeting.decode(), rcpts, code, text, m.group(1) if m else None))
            s.quit()
        finally:
            s.close()
    return seen


def run(binary, variant, nobody, tmp, mta):
    port = mta.port
    db = os.path.join(tmp, "live.db")
    errpath = os.path.join(tmp, "stderr.txt")
    errf = open(errpath, "w")
    proc = subprocess.Popen([binary, "live", "-i", "lo", "-d", db, "-Z", "nobody", "tcp", "port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=errf)
    with open(os.path.join(tmp, "live.pid"), "w") as f:
        f.write(f"{proc.pid}\n")       # for the watchdog of main()
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
            return
        time.sleep(0.3)   # the capture is open; let the first poll start
        # privileges dropped (as tcpdump -Z): real, effective and saved uid are nobody's
        with open(f"/proc/{proc.pid}/status") as st:
            uid_line = [l for l in st if l.startswith("Uid:")][0].split()[1:]
        check("uid after -Z nobody", [str(nobody.pw_uid)] * 4, uid_line)

        seen = send_mails(port)

        # readers see the mail while the capture still runs (commit every second)
        deadline = time.time() + 30
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
            proc.wait()
        os.unlink(os.path.join(tmp, "live.pid"))
        errf.close()

    # what the client saw: fixed codes and texts, queue ids of the MTA's form
    banner = "mx.live.test ESMTP smtpsift-live" if variant == "postfix" else "mx.live.test ESMTP tiny"
    qids = [s[4] for s in seen]
    for i, (greeting, rcpts, code, text, qid) in enumerate(seen, 1):
        check(f"mail {i}: greeting", banner, greeting)
        want = [(r, 550, REJECT) if r == "rejected@live.test" else (r, 250, "2.1.5 Ok") for r in RCPTS[i - 1]]
        check(f"mail {i}: RCPT replies", want, rcpts)
        check(f"mail {i}: DATA reply", (250, f"2.0.0 Ok: queued as {qid}"), (code, text))
        if variant == "postfix":
            if not qid or not re.fullmatch(r"[0-9A-F]{6,12}", qid):
                fails.append(f"mail {i}: not a Postfix short queue id: {qid!r}")
        else:
            check(f"mail {i}: queue id", "Q%04d" % i, qid)
    check("distinct queue ids", 3, len(set(qids)))
    if variant == "postfix":
        # Postfix's own log: the queue id of each Message-ID, the reject, the discards
        for i, qid in enumerate(qids, 1):
            q = re.escape(qid or "-")
            if not mta.wait_log(rf" postfix/cleanup\[\d+\]: {q}: message-id=<live-{i}@client\.live\.test>$"):
                fails.append(f"postfix log: no 'message-id=<live-{i}@...>' line for queue id {qid}")
            for r in RCPTS[i - 1]:
                if r == "rejected@live.test":
                    pat = rf" postfix/smtpd\[\d+\]: {q}: reject: RCPT from \S+: 550 {re.escape(REJECT)};"
                else:
                    pat = rf" postfix/discard\[\d+\]: {q}: to=<{re.escape(r)}>, relay=none, .* status=sent "
                if not mta.wait_log(pat):
                    fails.append(f"postfix log: no line /{pat}/")

    con = sqlite3.connect(db)
    rows = con.execute(
        "SELECT m.mail_from, m.mail_reply_code, m.subject, m.from_addr, m.message_id, m.queue_id,"
        " m.disposition, m.data_reply_code, m.data_reply_text, m.n_recipients, m.n_accepted,"
        " s.server_port, s.client_ip, s.banner_code, s.banner, s.helo, s.state, s.close_reason, s.quit"
        " FROM messages m JOIN sessions s ON s.id = m.session_id ORDER BY m.start_ts").fetchall()
    expect = [(f"env{i}@client.live.test", 250, SUBJECTS[i - 1], f"sender{i}@client.live.test",
               f"live-{i}@client.live.test", qids[i - 1], "accepted", 250, f"2.0.0 Ok: queued as {qids[i - 1]}",
               len(RCPTS[i - 1]), sum(r != "rejected@live.test" for r in RCPTS[i - 1]), port, "127.0.0.1", 220, banner,
               "client.live.test", "closed", "fin", 1) for i in (1, 2, 3)]
    check("messages", expect, rows)
    rcpt_rows = con.execute(
        "SELECT m.seq, r.seq, r.address, r.reply_code, r.reply_text, r.accepted FROM recipients r"
        " JOIN messages m ON m.id = r.message_id ORDER BY m.start_ts, r.seq").fetchall()
    want_rcpts = []
    for i in (1, 2, 3):
        for k, r in enumerate(RCPTS[i - 1]):
            bad = r == "rejected@live.test"
            want_rcpts.append((0, k, r, 550 if bad else 250, REJECT if bad else "2.1.5 Ok", 0 if bad else 1))
    check("recipients", want_rcpts, rcpt_rows)
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
    if fails:
        print("stderr of smtpsift live:\n" + err)
        if variant == "postfix":
            print("postfix log:\n" + mta.log())
    else:
        print(f"live ({variant}): 3 messages, queue ids {' '.join(qids)}, 4 of 5 recipients accepted,"
              " captured and committed, exit 0 after SIGINT")


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
    if postfix_instance.available() and os.environ.get("SIFT_LIVE_MTA", "postfix") != "tiny":
        variant = "postfix"
        print("live: variant = real MTA (private Postfix instance on 127.0.0.1)")
    else:
        variant = "tiny"
        print("live: variant = FALLBACK tiny Python SMTP server (postfix not installed"
              " or SIFT_LIVE_MTA=tiny); install postfix to test against a real MTA")
    sys.stdout.flush()
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGHUP, _terminate)
    tmp = tempfile.mkdtemp(prefix="sift_live_")
    # should this test be killed (-9, a ctest timeout), the capture must not run on: a watchdog
    # SIGINTs (then KILLs) it and removes tmp (PR_SET_PDEATHSIG would not survive -Z's setuid)
    watchdog = postfix_instance.start_watchdog(
        'p=$(cat "$2/live.pid" 2>/dev/null) && { kill -INT "$p"; sleep 3; kill -KILL "$p"; } 2>/dev/null; '
        'rm -rf "$2"', tmp)
    mta = None
    try:
        os.chmod(tmp, 0o777)          # the database is created after -Z nobody
        if variant == "postfix":
            mta = postfix_instance.PrivatePostfix()
            mta.start()
            print(f"live: postfix on 127.0.0.1:{mta.port}, config {mta.etc}")
        else:
            mta = TinySMTP()
        run(binary, variant, nobody, tmp, mta)
    finally:
        if mta is not None:
            if variant == "postfix":
                mta.stop()
            else:
                mta.close()
        shutil.rmtree(tmp, ignore_errors=True)
        postfix_instance.stop_watchdog(watchdog)
    for f in fails:
        print("FAIL:", f)
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
