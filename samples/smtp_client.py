#!/usr/bin/python3
"""smtpsift sample captures: message sources and the Python (smtplib) client.

Deterministic: every message, header and attachment is fixed, so the *content*
of the captures is reproducible (TCP ports, ISNs, timestamps and Postfix queue
ids are not).

  /usr/bin/python3 smtp_client.py build              # write src/*.eml and src/attachments/*
  /usr/bin/python3 smtp_client.py send CASE [HOST PORT SRC]
        CASE = multi_txn | attachments | dotstuff

Used by make_real.sh. Only ever talks to loopback.
"""
import base64
import hashlib
import os
import smtplib
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")
ATT = os.path.join(SRC, "attachments")
HELO = "client.example.test"
CRLF = "\r\n"


def crlf(text):
    """Normalise a text block to CRLF line endings, ending with CRLF."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return (CRLF.join(lines) + CRLF).encode("utf-8")


def simple(case, date, frm, to, subject, body, extra=""):
    return crlf(
        f"From: {frm}\n"
        f"To: {to}\n"
        f"Subject: {subject}\n"
        f"Date: {date}\n"
        f"Message-ID: <{case}.20250106@client.example.test>\n"
        f"{extra}"
        "MIME-Version: 1.0\n"
        "Content-Type: text/plain; charset=us-ascii\n"
        "Content-Transfer-Encoding: 7bit\n"
        "\n"
        f"{body}"
    )


# ---------------------------------------------------------------- swaks cases
# name -> (envelope from, [rcpts], date, From:, To:, Subject, body)
SWAKS_CASES = {
    "basic": ("basic-sender@client.example.test", ["basic-rcpt@example.test"],
              "Mon, 06 Jan 2025 10:00:00 +0000",
              "Basic Sender <basic-sender@client.example.test>",
              "Basic Rcpt <basic-rcpt@example.test>",
              "smtpsift basic sample",
              "Hello,\n\nthis is the basic smtpsift sample message.\nOne recipient, port 25, text/plain.\n\nBye\n"),
    "multi_rcpt_reject": ("mrr-sender@client.example.test",
                          ["mrr-one@example.test", "rejected@example.test", "mrr-three@example.test"],
                          "Mon, 06 Jan 2025 10:01:00 +0000",
                          "MRR Sender <mrr-sender@client.example.test>",
                          "mrr-one@example.test, rejected@example.test, mrr-three@example.test",
                          "smtpsift three recipients one rejected",
                          "Three RCPT TO, the second one is refused with 550 5.1.1.\n"),
    "pipelining": ("pipe-sender@client.example.test",
                   ["pipe-one@example.test", "pipe-two@example.test"],
                   "Mon, 06 Jan 2025 10:04:00 +0000",
                   "Pipe Sender <pipe-sender@client.example.test>",
                   "pipe-one@example.test, pipe-two@example.test",
                   "smtpsift pipelining sample",
                   "Sent with swaks --pipeline: MAIL, RCPT, RCPT, DATA in one write.\n"),
    "rejected_data": ("evil-sender@client.example.test", ["victim@example.test"],
                      "Mon, 06 Jan 2025 10:05:00 +0000",
                      "Evil Sender <evil-sender@client.example.test>",
                      "Victim <victim@example.test>",
                      "Invoice MALWARE-TEST attached",
                      "This message is rejected after the final dot by header_checks.\n"),
    "submission_587": ("sub-sender@client.example.test", ["sub-rcpt@example.test"],
                       "Mon, 06 Jan 2025 10:06:00 +0000",
                       "Sub Sender <sub-sender@client.example.test>",
                       "sub-rcpt@example.test",
                       "smtpsift submission port 587",
                       "Submitted on port 587 without AUTH (loopback is in mynetworks).\n"),
    "port_2525": ("p2525-sender@client.example.test", ["p2525-rcpt@example.test"],
                  "Mon, 06 Jan 2025 10:07:00 +0000",
                  "P2525 Sender <p2525-sender@client.example.test>",
                  "p2525-rcpt@example.test",
                  "smtpsift port 2525",
                  "Sent to port 2525.\n"),
    "port_10025": ("p10025-sender@client.example.test", ["p10025-rcpt@example.test"],
                   "Mon, 06 Jan 2025 10:08:00 +0000",
                   "P10025 Sender <p10025-sender@client.example.test>",
                   "p10025-rcpt@example.test",
                   "smtpsift port 10025",
                   "Sent to the unusual port 10025.\n"),
    "ipv6": ("v6-sender@client.example.test", ["v6-rcpt@example.test"],
             "Mon, 06 Jan 2025 10:09:00 +0000",
             "V6 Sender <v6-sender@client.example.test>",
             "v6-rcpt@example.test",
             "smtpsift over IPv6 loopback",
             "Sent from ::1 to ::1 port 25.\n"),
    "sll2_any": ("any-sender@client.example.test", ["any-rcpt@example.test"],
                 "Mon, 06 Jan 2025 10:10:00 +0000",
                 "Any Sender <any-sender@client.example.test>",
                 "any-rcpt@example.test",
                 "smtpsift captured on the any pseudo-interface",
                 "Captured with tcpdump -i any (LINUX_SLL2).\n"),
}

# ---------------------------------------------------------------- python cases
MULTI_TXN = [
    ("txn1-sender@client.example.test", ["txn1-rcpt@example.test"],
     simple("multi_txn-1", "Mon, 06 Jan 2025 10:02:00 +0000",
            "Txn One <txn1-sender@client.example.test>", "txn1-rcpt@example.test",
            "smtpsift multi txn 1 of 3", "First transaction on the shared connection.\n")),
    ("txn2-sender@client.example.test", ["txn2-rcpt-a@example.test", "txn2-rcpt-b@example.test"],
     simple("multi_txn-2", "Mon, 06 Jan 2025 10:02:10 +0000",
            "Txn Two <txn2-sender@client.example.test>",
            "txn2-rcpt-a@example.test, txn2-rcpt-b@example.test",
            "smtpsift multi txn 2 of 3", "Second transaction, two recipients.\n")),
    ("txn3-sender@client.example.test", ["txn3-rcpt@example.test"],
     simple("multi_txn-3", "Mon, 06 Jan 2025 10:02:20 +0000",
            "Txn Three <txn3-sender@client.example.test>", "txn3-rcpt@example.test",
            "smtpsift multi txn 3 of 3", "Third transaction, after RSET, HELP and an unknown verb.\n")),
]

DOTSTUFF_BODY = (
    "Dot-stuffing test.\n"
    ".leading dot line\n"
    "..two leading dots\n"
    ".\n"
    "the previous line was a lone dot; the message goes on\n"
    ". dot then space\n"
    "...\n"
    "last line\n"
)
DOTSTUFF = ("dot-sender@client.example.test", ["dot-rcpt@example.test"],
            simple("dotstuff", "Mon, 06 Jan 2025 10:11:00 +0000",
                   "Dot Sender <dot-sender@client.example.test>", "dot-rcpt@example.test",
                   "smtpsift dot-stuffing sample", DOTSTUFF_BODY))


def gen_bin():
    """20480 deterministic pseudo-random bytes (SHA-256 in counter mode)."""
    return b"".join(hashlib.sha256(b"smtpsift-sample-bin-%d" % i).digest() for i in range(640))


def gen_pdf():
    """A small, valid one-page PDF 1.4, built byte-for-byte."""
    stream = b"BT /F1 24 Tf 72 720 Td (smtpsift Q3 report sample) Tj ET\n"
    objs = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 5 0 R >> >> /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"
    offs = []
    for i, o in enumerate(objs, 1):
        offs.append(len(out))
        out += b"%d 0 obj\n" % i + o + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1)
    for off in offs:
        out += b"%010d 00000 n \n" % off
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objs) + 1, xref)
    return out


def b64lines(data):
    s = base64.b64encode(data).decode("ascii")
    return "\n".join(s[i:i + 76] for i in range(0, len(s), 76)) + "\n"


def attachments_msg(binary, pdf):
    subject = "Grüße – Quartalsbericht"
    subj_enc = "=?UTF-8?B?" + base64.b64encode(subject.encode("utf-8")).decode() + "?="
    bnd = "=_smtpsift_boundary_0001"
    text = (
        "Hallo Team,\n"
        "\n"
        "anbei der Quartalsbericht (PDF) und die Rohdaten (20 KiB).\n"
        "\n"
        "Viele Gr=C3=BC=C3=9Fe\n"
        "J=C3=BCrgen\n"
    )
    return crlf(
        "From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen.mueller@client.example.test>\n"
        "To: Finance Team <finance@example.test>\n"
        f"Subject: {subj_enc}\n"
        "Date: Mon, 06 Jan 2025 10:03:00 +0000\n"
        "Message-ID: <attachments.20250106@client.example.test>\n"
        "MIME-Version: 1.0\n"
        f"Content-Type: multipart/mixed; boundary=\"{bnd}\"\n"
        "\n"
        "This is a multi-part message in MIME format.\n"
        "\n"
        f"--{bnd}\n"
        "Content-Type: text/plain; charset=UTF-8\n"
        "Content-Transfer-Encoding: quoted-printable\n"
        "\n"
        f"{text}"
        "\n"
        f"--{bnd}\n"
        "Content-Type: application/octet-stream; name=\"sample-20k.bin\"\n"
        "Content-Disposition: attachment; filename=\"sample-20k.bin\"\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        f"{b64lines(binary)}"
        "\n"
        f"--{bnd}\n"
        "Content-Type: application/pdf; name=\"=?UTF-8?Q?=C3=9Cbersicht-Q3.pdf?=\"\n"
        "Content-Disposition: attachment; filename*=UTF-8''%C3%9Cbersicht-Q3.pdf\n"
        "Content-Transfer-Encoding: base64\n"
        "\n"
        f"{b64lines(pdf)}"
        "\n"
        f"--{bnd}--\n"
    )


ATTACH = ("juergen.mueller@client.example.test", ["finance@example.test"], None)


def build():
    os.makedirs(ATT, exist_ok=True)
    binary, pdf = gen_bin(), gen_pdf()
    # the attachment source files; their sha256sum is recorded in EXPECTED.md
    with open(os.path.join(ATT, "sample-20k.bin"), "wb") as f:
        f.write(binary)
    with open(os.path.join(ATT, "uebersicht-q3.pdf"), "wb") as f:
        f.write(pdf)
    msgs = {}
    for name, (mfrom, rcpts, date, frm, to, subj, body) in SWAKS_CASES.items():
        msgs[name] = simple(name, date, frm, to, subj, body)
    for i, (_, _, m) in enumerate(MULTI_TXN, 1):
        msgs["multi_txn-%d" % i] = m
    msgs["attachments"] = attachments_msg(binary, pdf)
    msgs["dotstuff"] = DOTSTUFF[2]
    for name, m in msgs.items():
        with open(os.path.join(SRC, name + ".eml"), "wb") as f:
            f.write(m)
    # envelope for the swaks cases, read by make_real.sh
    with open(os.path.join(SRC, "envelopes.txt"), "w") as f:
        for name, (mfrom, rcpts, *_rest) in SWAKS_CASES.items():
            f.write("%s %s %s\n" % (name, mfrom, ",".join(rcpts)))


def load(name):
    with open(os.path.join(SRC, name + ".eml"), "rb") as f:
        return f.read()


def log(s, r):
    print("%-40s -> %r" % (s, r))


def send(case, host="127.0.0.1", port=25, src="127.0.0.2"):
    srcaddr = (src, 0) if src else None
    s = smtplib.SMTP(host, int(port), local_hostname=HELO, source_address=srcaddr, timeout=30)
    s.set_debuglevel(1)
    log("EHLO", s.ehlo(HELO))
    if case == "multi_txn":
        log("NOOP", s.noop())
        f, r, _ = MULTI_TXN[0]
        log("sendmail 1", s.sendmail(f, r, load("multi_txn-1")))
        log("VRFY", s.verify("postmaster"))
        f, r, _ = MULTI_TXN[1]
        log("sendmail 2", s.sendmail(f, r, load("multi_txn-2")))
        log("RSET", s.rset())
        log("HELP", s.docmd("HELP"))
        log("XSIFT (unknown verb)", s.docmd("XSIFT", "unknown-verb-test"))
        f, r, _ = MULTI_TXN[2]
        log("sendmail 3", s.sendmail(f, r, load("multi_txn-3")))
    elif case == "attachments":
        f, r, _ = ATTACH
        log("sendmail", s.sendmail(f, r, load("attachments")))
    elif case == "dotstuff":
        f, r, _ = DOTSTUFF
        log("sendmail", s.sendmail(f, r, load("dotstuff")))
    else:
        raise SystemExit("unknown case " + case)
    log("QUIT", s.quit())


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "build":
        build()
    elif len(sys.argv) >= 3 and sys.argv[1] == "send":
        send(sys.argv[2], *sys.argv[3:])
    else:
        print(__doc__)
        sys.exit(2)
