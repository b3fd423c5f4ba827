#!/usr/bin/env python3
"""A 1 GiB message (issue 8 bounds, issue 3 spooling): one SMTP session sends a
multipart message of SIZE MiB whose attachment is most of it. smtpsift must
spool it to a temporary file, hash it, parse it, store it whole and export it
byte for byte, in memory that does not grow with it.

What is checked, against values computed here independently (hashlib):
  - one accepted message, its exact size and SHA-256, its decoded subject;
  - the attachment part: file name, decoded size, MD5, SHA-1, SHA-256;
  - the finding message_spooled;
  - ingested with --store-raw, message_raw holds the first 256 MiB,
    message_raw_more the rest in order; export --eml writes <sha256>.eml with
    the same SHA-256;
  - the 24 MiB message ingested by default (bytes not in the database) is
    exported byte for byte, read again from its capture;
  - nothing is left in TMPDIR;
  - peak RSS of the ingest is within 64 MiB of the peak RSS of ingesting the
    same kind of message of 24 MiB (past the 2 MiB spool threshold too)
    (not under sanitizers, whose allocator keeps freed memory on purpose).

usage: test_bigmsg.py SMTPSIFT [SIZE_MIB] [--sanitized]
"""
import base64
import hashlib
import os
import random
import shutil
import sqlite3
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "samples"))
from pcaplib import frame  # noqa: E402  (shared frame builder)

MSS = 1448
CLI, SRV = "10.1.0.1", "10.1.0.2"
CPORT, SPORT = 40111, 25


class Pcap:
    def __init__(self, path):
        self.f = open(path, "wb", buffering=1 << 20)
        self.f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        self.t = 1700000000.0
        self.seq = {CLI: 1000, SRV: 500000}

    def seg(self, src, flags, payload=b""):
        dst = SRV if src == CLI else CLI
        sp, dp = (CPORT, SPORT) if src == CLI else (SPORT, CPORT)
        fr = frame(src, dst, sp, dp, self.seq[src], self.seq[dst], flags, payload)
        self.t += 0.00001
        sec = int(self.t)
        self.f.write(struct.pack("<IIII", sec, int((self.t - sec) * 1e6), len(fr), len(fr)))
        self.f.write(fr)
        self.seq[src] += len(payload) + (1 if flags & 0x03 else 0)

    def send(self, src, data):
        for i in range(0, len(data), MSS):
            self.seg(src, 0x18, data[i:i + MSS])

    def close(self):
        self.f.close()


def make(path, size_mib, seed):
    """Writes the capture; returns the truth."""
    att_name = "big-archive.bin"
    subject = "Gro\u00dfe Datei \u2013 %d MiB" % size_mib
    head = ("From: Big Sender <big@sender.example>\r\nTo: rcpt@dest.example\r\n"
            "Subject: =?UTF-8?B?%s?=\r\nMessage-ID: <big.%d@sender.example>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=_big\"\r\n\r\n"
            "--=_big\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nThe file is attached.\r\n"
            "--=_big\r\nContent-Type: application/octet-stream\r\n"
            "Content-Disposition: attachment; filename=\"%s\"\r\n"
            "Content-Transfer-Encoding: base64\r\n\r\n"
            % (base64.b64encode(subject.encode()).decode(), size_mib, att_name)).encode()
    tail = b"--=_big--\r\n"
    total_target = size_mib << 20
    # 57 bytes of data make one 76-character line plus CRLF (78 bytes)
    lines = (total_target - len(head) - len(tail)) // 78
    att_len = lines * 57
    rnd = random.Random(seed)
    block = rnd.randbytes(57 * 18396)          # about 1 MiB, a whole number of lines
    h_att = [hashlib.md5(), hashlib.sha1(), hashlib.sha256()]
    h_msg = hashlib.sha256()
    p = Pcap(path)
    p.seg(CLI, 0x02)                            # SYN
    p.seg(SRV, 0x12)                            # SYN-ACK
    p.seg(CLI, 0x10)
    for c, text in ((SRV, b"220 mx.dest.example ESMTP\r\n"), (CLI, b"EHLO big.sender.example\r\n"),
                    (SRV, b"250-mx.dest.example\r\n250-SIZE 2000000000\r\n250 8BITMIME\r\n"),
                    (CLI, b"MAIL FROM:<big@sender.example> SIZE=%d\r\n" % (size_mib << 20)),
                    (SRV, b"250 2.1.0 Ok\r\n"), (CLI, b"RCPT TO:<rcpt@dest.example>\r\n"),
                    (SRV, b"250 2.1.5 Ok\r\n"), (CLI, b"DATA\r\n"),
                    (SRV, b"354 End data with <CR><LF>.<CR><LF>\r\n")):
        p.send(c, text)
    pending = bytearray(head)
    h_msg.update(head)
    sent_segs = 0
    done = 0
    while done < att_len:
        chunk = block[:min(len(block), att_len - done)]
        for h in h_att:
            h.update(chunk)
        enc = base64.encodebytes(chunk).replace(b"\n", b"\r\n")   # 76-character lines
        h_msg.update(enc)
        pending += enc
        done += len(chunk)
        n = len(pending) // MSS * MSS
        for i in range(0, n, MSS):
            p.seg(CLI, 0x18, bytes(pending[i:i + MSS]))
            sent_segs += 1
            if sent_segs % 32 == 0:
                p.seg(SRV, 0x10)                # the server acknowledges
        del pending[:n]
    pending += tail
    h_msg.update(tail)
    total = len(head) + lines * 78 + len(tail)
    p.send(CLI, bytes(pending) + b".\r\n")
    p.send(SRV, b"250 2.0.0 Ok: queued as BIG1\r\n")
    p.send(CLI, b"QUIT\r\n")
    p.send(SRV, b"221 2.0.0 Bye\r\n")
    p.seg(CLI, 0x11)
    p.seg(SRV, 0x11)
    p.seg(CLI, 0x10)
    p.close()
    return {"total": total, "sha256": h_msg.hexdigest(), "subject": subject, "att_name": att_name,
            "att_len": att_len, "att": [h.hexdigest() for h in h_att]}


def ingest(smtpsift, db, cap, tmpdir, *opts):
    env = dict(os.environ, TMPDIR=tmpdir)
    proc = subprocess.Popen([smtpsift, "ingest", "-q", *opts, "-d", db, cap], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, ru = os.wait4(proc.pid, 0)
    out, err = proc.stdout.read(), proc.stderr.read()
    proc.stdout.close()
    proc.stderr.close()
    return os.waitstatus_to_exitcode(status), ru.ru_maxrss, err.decode(errors="replace")


fails = 0


def sha256_file(path):
    h = hashlib.sha256()
    if os.path.exists(path):
        with open(path, "rb") as f:
            for b in iter(lambda: f.read(1 << 20), b""):
                h.update(b)
    return h.hexdigest()


def check(what, want, got):
    global fails
    if want == got:
        print("ok   %s" % what)
    else:
        fails += 1
        print("FAIL %s: want %r, got %r" % (what, want, got))


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    sanitized = "--sanitized" in sys.argv
    smtpsift = os.path.abspath(args[0])
    size_mib = int(args[1]) if len(args) > 1 else 1024
    work = tempfile.mkdtemp(prefix="sift-big-")
    try:
        tmpdir = os.path.join(work, "tmp")
        os.mkdir(tmpdir)
        small = make(os.path.join(work, "small.pcap"), 24, 2)
        rc, rss_small, err = ingest(smtpsift, os.path.join(work, "small.db"), os.path.join(work, "small.pcap"), tmpdir)
        check("24 MiB message: exit code (%s)" % err.strip(), 0, rc)
        # By default the capture is the store: export reads the spooled message
        # back out of the capture (through a temporary database) byte for byte.
        eml = os.path.join(work, "eml_small")
        r = subprocess.run([smtpsift, "export", "-d", os.path.join(work, "small.db"), "--eml", eml],
                           capture_output=True, text=True, env=dict(os.environ, TMPDIR=tmpdir))
        check("24 MiB message, not stored: export exit code (%s)" % r.stderr.strip(), 0, r.returncode)
        check("24 MiB message, not stored: rebuilt from the capture",
              "1 of them read again from their capture files (SHA-256 checked)" in r.stderr, True)
        check("24 MiB message, not stored: the .eml is the message byte for byte", small["sha256"],
              sha256_file(os.path.join(eml, small["sha256"] + ".eml")))
        check("24 MiB message: no temporary file left", [], os.listdir(tmpdir))
        big = make(os.path.join(work, "big.pcap"), size_mib, 1)
        db = os.path.join(work, "big.db")
        rc, rss_big, err = ingest(smtpsift, db, os.path.join(work, "big.pcap"), tmpdir, "--store-raw")
        check("%d MiB message: exit code (%s)" % (size_mib, err.strip()), 0, rc)
        con = sqlite3.connect(db)
        one = lambda sql: con.execute(sql).fetchall()
        check("one accepted message: size, sha256, subject, truncated",
              [(1, big["total"], big["sha256"], big["subject"], 0, "accepted")],
              one("SELECT count(*), size, sha256, subject, truncated, disposition FROM messages"))
        check("attachment: name, decoded size, md5, sha1, sha256",
              [(big["att_name"], big["att_len"], *big["att"])],
              one("SELECT filename, size, md5, sha1, sha256 FROM parts WHERE is_attachment = 1"))
        check("finding message_spooled", [(1,)], one("SELECT count(*) FROM findings WHERE rule = 'message_spooled'"))
        piece = 256 << 20
        first = min(big["total"], piece)
        more = big["total"] - first
        check("message_raw holds the first 256 MiB", [(first,)], one("SELECT length(data) FROM message_raw"))
        check("message_raw_more holds the rest in order",
              [((more + piece - 1) // piece, more, (more + piece - 1) // piece - 1 if more else None)],
              one("SELECT count(*), coalesce(sum(length(data)), 0), max(seq) FROM message_raw_more"))
        con.close()
        eml = os.path.join(work, "eml")
        r = subprocess.run([smtpsift, "export", "-d", db, "--eml", eml], capture_output=True, text=True,
                           env=dict(os.environ, TMPDIR=tmpdir))
        check("export exit code (%s)" % r.stderr.strip(), 0, r.returncode)
        check("exported .eml is the message byte for byte", big["sha256"],
              sha256_file(os.path.join(eml, big["sha256"] + ".eml")))
        check("no temporary file left", [], os.listdir(tmpdir))
        print("# peak RSS: %d MiB message %d KiB, 24 MiB message %d KiB" % (size_mib, rss_big, rss_small))
        if sanitized:
            print("# peak RSS not compared under sanitizers")
        elif rss_big - rss_small < 64 * 1024:
            print("ok   peak RSS within 64 MiB of the 24 MiB message's")
        else:
            global fails
            fails += 1
            print("FAIL peak RSS grew by %d KiB over the 24 MiB message's" % (rss_big - rss_small))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print("%s" % ("all passed" if not fails else "%d failed" % fails))
    sys.exit(1 if fails else 0)


if __name__ == "__main__":
    main()
