#!/usr/bin/env python3
"""Byte-exact raw-socket SMTP client for the edge-case sample captures (issue 3: BDAT/CHUNKING
RFC 3030, SMTP smuggling terminators, content sent after a refused DATA; SMTPUTF8 RFC 6531,
8BITMIME RFC 6152, Postfix XCLIENT). Stdlib only.
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

# (d) SMTPUTF8 (RFC 6531): UTF-8 local part with SMTPUTF8 and raw UTF-8 headers, then a UTF-8
# address without SMTPUTF8 (what Postfix answers is the ground truth).
UTF8_MSG = ("From: Jürgen Müller <jürgen@client.example.test>\r\n"
            "To: <用户@example.test>\r\n"
            "Subject: smtpsift smtputf8 grüße\r\n"
            "Date: Mon, 06 Jan 2025 14:10:00 +0000\r\n"
            "Message-ID: <utf8.20250106@client.example.test>\r\n"
            "\r\n"
            "Body with UTF-8: äöü €.\r\n").encode()
UTF8_MSG2 = ("From: <jürgen@client.example.test>\r\n"
             "Subject: smtpsift utf8 without smtputf8\r\n"
             "\r\n"
             "Second body.\r\n").encode()

# (e) 8BITMIME (RFC 6152): an 8-bit body with BODY=8BITMIME, then one without the parameter.
EIGHT_MSG = (b"From: Eight Bit <eight@client.example.test>\r\n"
             b"To: <eight-rcpt@example.test>\r\n"
             b"Subject: smtpsift 8bitmime sample\r\n"
             b"Date: Mon, 06 Jan 2025 14:20:00 +0000\r\n"
             b"Message-ID: <eightbit.20250106@client.example.test>\r\n"
             b"MIME-Version: 1.0\r\n"
             b"Content-Type: text/plain; charset=iso-8859-1\r\n"
             b"Content-Transfer-Encoding: 8bit\r\n"
             b"\r\n"
             b"Latin-1 body: caf\xe9 na\xefve \xfcber.\r\n")
EIGHT_MSG2 = (b"From: Eight Bit <eight@client.example.test>\r\n"
              b"To: <eight-rcpt@example.test>\r\n"
              b"Subject: smtpsift 8bit without 8bitmime\r\n"
              b"MIME-Version: 1.0\r\n"
              b"Content-Type: text/plain; charset=iso-8859-1\r\n"
              b"Content-Transfer-Encoding: 8bit\r\n"
              b"\r\n"
              b"Undeclared 8-bit: r\xe9sum\xe9.\r\n")

# (f) XCLIENT (Postfix): the client asserts another address, name and HELO; Postfix answers with
# a new 220 greeting, the client says EHLO again and sends a message.
XCLIENT_MSG = (b"From: XClient Sender <xclient-sender@client.example.test>\r\n"
               b"To: <xclient-rcpt@example.test>\r\n"
               b"Subject: smtpsift xclient sample\r\n"
               b"Date: Mon, 06 Jan 2025 14:30:00 +0000\r\n"
               b"Message-ID: <xclient.20250106@client.example.test>\r\n"
               b"\r\n"
               b"Sent after XCLIENT.\r\n")

CASES = {
    "smtputf8": [
        ("reply", 1), ("send", HELO), ("reply", 1),
        ("send", "MAIL FROM:<jürgen@client.example.test> SMTPUTF8\r\n".encode()), ("reply", 1),
        ("send", "RCPT TO:<用户@example.test>\r\n".encode()), ("reply", 1),
        ("send", b"DATA\r\n"), ("reply", 1),
        ("send", UTF8_MSG + b".\r\n"), ("reply", 1),
        ("send", "MAIL FROM:<jürgen@client.example.test>\r\n".encode()), ("reply", 1),
        ("send", b"RCPT TO:<utf8-rcpt@example.test>\r\n"), ("reply", 1),
        ("send", b"DATA\r\n"), ("reply", 1),
        ("send", UTF8_MSG2 + b".\r\n"), ("drain", 2.0),
        ("send", b"QUIT\r\n"), ("drain", 2.0),
    ],
    "eightbit": [
        ("reply", 1), ("send", HELO), ("reply", 1),
        ("send", b"MAIL FROM:<eight@client.example.test> BODY=8BITMIME\r\n"), ("reply", 1),
        ("send", b"RCPT TO:<eight-rcpt@example.test>\r\n"), ("reply", 1),
        ("send", b"DATA\r\n"), ("reply", 1),
        ("send", EIGHT_MSG + b".\r\n"), ("reply", 1),
        ("send", b"MAIL FROM:<eight@client.example.test>\r\n"), ("reply", 1),
        ("send", b"RCPT TO:<eight-rcpt@example.test>\r\n"), ("reply", 1),
        ("send", b"DATA\r\n"), ("reply", 1),
        ("send", EIGHT_MSG2 + b".\r\n"), ("reply", 1),
        ("send", b"QUIT\r\n"), ("reply", 1),
    ],
    "xclient": [
        ("reply", 1), ("send", HELO), ("reply", 1),
        ("send", b"XCLIENT ADDR=198.51.100.7 NAME=spoofed.example HELO=fake.example\r\n"),
        ("reply", 1), ("send", HELO), ("reply", 1),
        ("send", b"MAIL FROM:<xclient-sender@client.example.test>\r\n"), ("reply", 1),
        ("send", b"RCPT TO:<xclient-rcpt@example.test>\r\n"), ("reply", 1),
        ("send", b"DATA\r\n"), ("reply", 1),
        ("send", XCLIENT_MSG + b".\r\n"), ("reply", 1),
        ("send", b"QUIT\r\n"), ("reply", 1),
    ],
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
                      ("refused header content (never a message)", REFUSED_HDR_CONTENT),
                      ("smtputf8 message 1", UTF8_MSG), ("smtputf8 message 2", UTF8_MSG2),
                      ("eightbit message 1", EIGHT_MSG), ("eightbit message 2", EIGHT_MSG2),
                      ("xclient message", XCLIENT_MSG)):
        print("%s: %d bytes sha256 %s" % (name, len(msg), hashlib.sha256(msg).hexdigest()))
    print("bdat chunk sizes: %d, %d, 0 LAST; message 2 chunk %d LAST"
          % (BDAT_SPLIT, len(BDAT_MSG1) - BDAT_SPLIT, len(BDAT_MSG2)))


if __name__ == "__main__":
    if sys.argv[1:2] == ["dump"]:
        dump()
    else:
        run(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
