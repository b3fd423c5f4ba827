#!/usr/bin/env python3
"""Byte-exact raw-socket SMTP client for the edge-case sample captures (issue 3: BDAT/CHUNKING
RFC 3030, SMTP smuggling terminators, content sent after a refused DATA). Stdlib only.
Each case is an explicit script of steps: ("send", bytes) writes exactly those bytes in one
send() (so several commands in one step are pipelined), ("reply", n) waits for n complete replies
(a final "NNN " line each), ("drain", secs) reads until the server is silent for secs.
It does NOT implement SMTP: no dot-stuffing, no line parsing of what it sends, no checks.
Usage: smtp_raw_client.py run CASE SERVER PORT LOCAL_ADDR   (prints a C:/S: transcript)
       smtp_raw_client.py dump CASE                           (prints what each message is)"""
import hashlib
import socket
import sys
import time

HELO = b"EHLO client.example.test\r\n"

# (a) BDAT: message 1 in two chunks sent back to back, then BDAT 0 LAST; message 2 BINARYMIME.
BDAT_MSG1 = (b"From: BDAT Sender <bdat-sender@client.example.test>\r\n"
             b"To: <bdat-rcpt@example.test>\r\n"
             b"Subject: smtpsift bdat sample\r\n"
             b"Date: Mon, 06 Jan 2025 14:00:00 +0000\r\n"
             b"Message-ID: <bdat.20250106@client.example.test>\r\n"
             b"\r\n"
             b"First line of a message sent with BDAT in two chunks.\r\n"
             b".A line starting with a dot: BDAT does no dot-stuffing.\r\n"
             b".\r\n"
             b"The line above is a lone dot, which is content in BDAT.\r\n")
BDAT_SPLIT = 250                     # chunk 1 ends in the middle of a body line
BDAT_MSG2 = (b"From: BDAT Binary <bdat-bin-sender@client.example.test>\r\n"
             b"To: <bdat-bin-rcpt@example.test>\r\n"
             b"Subject: smtpsift bdat binarymime sample\r\n"
             b"Date: Mon, 06 Jan 2025 14:01:00 +0000\r\n"
             b"Message-ID: <bdat-bin.20250106@client.example.test>\r\n"
             b"\r\n"
             b"A BINARYMIME message in one BDAT LAST chunk.\r\n"
             b"This line ends in a bare LF.\n"
             b"Last line.\r\n")

# (b) smuggling: <LF>.<LF> inside DATA, then a whole second transaction, then <CR><LF>.<CR><LF>.
SMUGGLE_CONTENT = (b"From: Smuggle Sender <smuggle-sender@client.example.test>\r\n"
                   b"To: <smuggle-rcpt@example.test>\r\n"
                   b"Subject: smtpsift smuggling sample\r\n"
                   b"Date: Mon, 06 Jan 2025 14:02:00 +0000\r\n"
                   b"Message-ID: <smuggle.20250106@client.example.test>\r\n"
                   b"\r\n"
                   b"Outer message body.\r\n"
                   b"\n.\n"
                   b"MAIL FROM:<smuggled@client.example.test>\r\n"
                   b"RCPT TO:<smuggled-rcpt@example.test>\r\n"
                   b"DATA\r\n"
                   b"From: <smuggled@client.example.test>\r\n"
                   b"To: <smuggled-rcpt@example.test>\r\n"
                   b"Subject: smtpsift smuggled message\r\n"
                   b"\r\n"
                   b"Smuggled body.\r\n")
SMUGGLE_END = b".\r\n"               # content ends in CRLF, so this completes CRLF.CRLF

# (c) DATA refused (no valid recipients), content sent anyway.
# Postfix hangs up at once ("221 2.7.0 Error: I can break rules, too") on a command line that
# looks like a header, so data_refused sends body lines only; data_refused_hdr sends headers.
REFUSED_CONTENT = (b"This content follows a refused DATA.\r\n"
                   b"\r\n"
                   b"second line, then the dot\r\n"
                   b".\r\n")
REFUSED_HDR_CONTENT = (b"From: Refused Sender <refused-sender@client.example.test>\r\n"
                       b"Subject: smtpsift data refused sample\r\n"
                       b"\r\n"
                       b"This content follows a refused DATA.\r\n"
                       b".\r\n")

CASES = {
    "bdat": [
        ("reply", 1), ("send", HELO), ("reply", 1),
        ("send", b"MAIL FROM:<bdat-sender@client.example.test>\r\n"), ("reply", 1),
        ("send", b"RCPT TO:<bdat-rcpt@example.test>\r\n"), ("reply", 1),
        ("send", b"BDAT %d\r\n" % BDAT_SPLIT + BDAT_MSG1[:BDAT_SPLIT]
                 + b"BDAT %d\r\n" % (len(BDAT_MSG1) - BDAT_SPLIT) + BDAT_MSG1[BDAT_SPLIT:]),
        ("reply", 2),
        ("send", b"BDAT 0 LAST\r\n"), ("reply", 1),
        ("send", b"MAIL FROM:<bdat-bin-sender@client.example.test> BODY=BINARYMIME\r\n"), ("reply", 1),
        ("send", b"RCPT TO:<bdat-bin-rcpt@example.test>\r\n"), ("reply", 1),
        ("send", b"BDAT %d LAST\r\n" % len(BDAT_MSG2) + BDAT_MSG2), ("reply", 1),
        # Postfix 3.7 refuses BODY=BINARYMIME (555): the same message again without it
        ("send", b"MAIL FROM:<bdat-bin-sender@client.example.test>\r\n"), ("reply", 1),
        ("send", b"RCPT TO:<bdat-bin-rcpt@example.test>\r\n"), ("reply", 1),
        ("send", b"BDAT %d LAST\r\n" % len(BDAT_MSG2) + BDAT_MSG2), ("reply", 1),
        ("send", b"QUIT\r\n"), ("reply", 1),
    ],
    "smuggle": [
        ("reply", 1), ("send", HELO), ("reply", 1),
        ("send", b"MAIL FROM:<smuggle-sender@client.example.test>\r\n"), ("reply", 1),
        ("send", b"RCPT TO:<smuggle-rcpt@example.test>\r\n"), ("reply", 1),
        ("send", b"DATA\r\n"), ("reply", 1),
        ("send", SMUGGLE_CONTENT + SMUGGLE_END), ("drain", 2.0),
        ("send", b"QUIT\r\n"), ("reply", 1),
    ],
    "data_refused": [
        ("reply", 1), ("send", HELO), ("reply", 1),
        ("send", b"MAIL FROM:<refused-sender@client.example.test>\r\n"), ("reply", 1),
        ("send", b"RCPT TO:<rejected@example.test>\r\n"), ("reply", 1),
        ("send", b"DATA\r\n"), ("reply", 1),
        ("send", REFUSED_CONTENT), ("drain", 3.0),   # the "." line makes Postfix hang up (221)
    ],
    "data_refused_hdr": [
        ("reply", 1), ("send", HELO), ("reply", 1),
        ("send", b"MAIL FROM:<refused-sender@client.example.test>\r\n"), ("reply", 1),
        ("send", b"RCPT TO:<rejected@example.test>\r\n"), ("reply", 1),
        ("send", b"DATA\r\n"), ("reply", 1),
        ("send", REFUSED_HDR_CONTENT), ("drain", 3.0),   # server answers 221 and closes
    ],
}


def read_replies(sock, buf, n):
    """Reads until n complete replies (final line "NNN " or "NNN\\r\\n") are in buf; returns
    (replies as bytes, rest). Raises on EOF."""
    out, cur = [], []
    while len(out) < n:
        while b"\n" not in buf:
            data = sock.recv(65536)
            if not data:
                raise EOFError("server closed")
            buf += data
        line, buf = buf.split(b"\n", 1)
        cur.append(line + b"\n")
        if len(line) < 4 or line[3:4] != b"-":
            out.append(b"".join(cur))
            cur = []
    return out, buf


def run(case, server, port, local):
    sock = socket.create_connection((server, port), timeout=10, source_address=(local, 0))
    buf = b""
    for op, arg in CASES[case]:
        if op == "send":
            sys.stdout.write("".join("C: %r\n" % l for l in arg.splitlines(True)))
            sock.sendall(arg)
        elif op == "reply":
            reps, buf = read_replies(sock, buf, arg)
            for r in reps:
                sys.stdout.write("".join("S: %r\n" % l for l in r.splitlines(True)))
        else:  # drain
            sock.settimeout(arg)
            try:
                while True:
                    data = sock.recv(65536)
                    if not data:
                        break
                    buf += data
            except socket.timeout:
                pass
            sock.settimeout(10)
            sys.stdout.write("".join("S: %r\n" % l for l in buf.splitlines(True)))
            buf = b""
        sys.stdout.flush()
    time.sleep(0.3)
    sock.close()


def dump():
    for name, msg in (("bdat message 1", BDAT_MSG1), ("bdat message 2", BDAT_MSG2),
                      ("smuggle DATA content (un-stuffed, up to CRLF.CRLF)", SMUGGLE_CONTENT),
                      ("smuggle outer message (up to <LF>.<LF>)",
                       SMUGGLE_CONTENT[:SMUGGLE_CONTENT.index(b"\n.\n") + 1]),
                      ("smuggle inner message (after DATA<CRLF>)",
                       SMUGGLE_CONTENT[SMUGGLE_CONTENT.index(b"DATA\r\n") + 6:]),
                      ("refused content (never a message)", REFUSED_CONTENT),
                      ("refused header content (never a message)", REFUSED_HDR_CONTENT)):
        print("%s: %d bytes sha256 %s" % (name, len(msg), hashlib.sha256(msg).hexdigest()))
    print("bdat chunk sizes: %d, %d, 0 LAST; message 2 chunk %d LAST"
          % (BDAT_SPLIT, len(BDAT_MSG1) - BDAT_SPLIT, len(BDAT_MSG2)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["dump"]:
        dump()
    else:
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
