#!/usr/bin/env python3
"""Deterministic capture writer for the safety tests (standard library only):
well-formed Ethernet/IPv4/TCP SMTP sessions with correct sequence numbers,
big payloads split into segments. Also a command line:

  safecap.py mail N OUT.pcap   N sessions; every message multipart with an
                               attachment, three recipients (one rejected),
                               every third session two transactions
"""
import base64
import os
import struct
import sys

SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'samples'))
from pcaplib import frame as tcp_frame  # noqa: E402  (shared frame builder)


class Pcap:
    """Records with timestamps 100 us apart from a fixed start."""

    def __init__(self, linktype=1):
        self.linktype = linktype
        self.records = []
        self.t = 1700000000_000000   # microseconds

    def add(self, data):
        self.t += 100
        sec, usec = divmod(self.t, 1000000)
        self.records.append(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)

    def smtp_session(self, cli, srv, cport, conv, sport=25, mss=1400):
        """conv: list of (side, bytes), side 0 = client. Handshake, data, FIN both ways."""
        cs, ss = 1000, 5000
        self.add(tcp_frame(cli, srv, cport, sport, cs, 0, SYN, b""))
        self.add(tcp_frame(srv, cli, sport, cport, ss, cs + 1, SYN | ACK, b""))
        cs += 1
        ss += 1
        self.add(tcp_frame(cli, srv, cport, sport, cs, ss, ACK, b""))
        for side, data in conv:
            for o in range(0, len(data), mss):
                chunk = data[o:o + mss]
                if side == 0:
                    self.add(tcp_frame(cli, srv, cport, sport, cs, ss, ACK | PSH, chunk))
                    cs += len(chunk)
                else:
                    self.add(tcp_frame(srv, cli, sport, cport, ss, cs, ACK | PSH, chunk))
                    ss += len(chunk)
        self.add(tcp_frame(srv, cli, sport, cport, ss, cs, FIN | ACK, b""))
        ss += 1
        self.add(tcp_frame(cli, srv, cport, sport, cs, ss, FIN | ACK, b""))
        cs += 1
        self.add(tcp_frame(srv, cli, sport, cport, ss, cs, ACK, b""))

    def data(self):
        return struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, self.linktype) + b"".join(self.records)

    def write(self, path):
        with open(path, "wb") as f:
            f.write(self.data())


def _attachment(i):
    """Deterministic bytes of attachment i (400 to 600 bytes, different per message)."""
    out = bytearray()
    x = (i * 2654435761 + 12345) & 0xFFFFFFFF
    for _ in range(400 + i % 200):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out.append(x >> 24)
    return bytes(out)


def mail_message(i, k):
    att = base64.encodebytes(_attachment(i * 2 + k)).replace(b"\n", b"\r\n")
    return (b"From: Sender %d <s%d@example.test>\r\nTo: <r%d@example.test>, <c%d@example.test>\r\n"
            b"Subject: message %d.%d\r\nMessage-ID: <m%d.%d@example.test>\r\n"
            b"Date: Tue, 14 Nov 2023 22:13:20 +0000\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"b%d\"\r\n\r\n"
            b"--b%d\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nbody of message %d.%d\r\n"
            b"--b%d\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment; filename=\"file%d.%d.bin\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" % (i, i, i, i, i, k, i, k, i, i, i, k, i, i, k)
            + att + b"--b%d--\r\n" % i)


def mail_session(i):
    """Conversation of session i: EHLO, one or two transactions, QUIT."""
    conv = [(1, b"220 mx.example.test ESMTP\r\n"),
            (0, b"EHLO c%d.example.test\r\n" % i),
            (1, b"250-mx.example.test\r\n250-PIPELINING\r\n250 SIZE 10240000\r\n")]
    for k in range(2 if i % 3 == 0 else 1):
        body = mail_message(i, k).replace(b"\r\n.", b"\r\n..")
        conv += [(0, b"MAIL FROM:<s%d@example.test>\r\n" % i), (1, b"250 2.1.0 Ok\r\n"),
                 (0, b"RCPT TO:<r%d@example.test>\r\n" % i), (1, b"250 2.1.5 Ok\r\n"),
                 (0, b"RCPT TO:<c%d@example.test>\r\n" % i), (1, b"250 2.1.5 Ok\r\n"),
                 (0, b"RCPT TO:<nobody%d@example.test>\r\n" % i), (1, b"550 5.1.1 No such user\r\n"),
                 (0, b"DATA\r\n"), (1, b"354 go\r\n"),
                 (0, body + b".\r\n"), (1, b"250 2.0.0 Ok: queued as Q%dX%d\r\n" % (i, k))]
    conv += [(0, b"QUIT\r\n"), (1, b"221 2.0.0 Bye\r\n")]
    return conv


def write_mail(n, path):
    p = Pcap()
    for i in range(n):
        cli = "10.%d.%d.%d" % (1 + (i >> 16) % 200, (i >> 8) & 255, 1 + (i & 255) % 254)
        p.smtp_session(cli, "192.0.2.25", 20000 + i % 40000, mail_session(i))
    p.write(path)


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "mail":
        write_mail(int(sys.argv[2]), sys.argv[3])
    else:
        sys.exit(__doc__)
