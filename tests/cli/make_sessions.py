#!/usr/bin/env python3
"""Writes a pcap of N complete, well-formed SMTP sessions (Ethernet/IPv4/TCP,
correct sequence numbers, one message each with a distinct sender, recipient
and Subject), deterministically. Standard library only.
Usage: make_sessions.py N OUT.pcap"""
import os
import struct
import sys

n, out = int(sys.argv[1]), sys.argv[2]


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'samples'))
from pcaplib import frame  # noqa: E402  (shared frame builder)


records = []
t = 1700000000.0


def emit(data):
    global t
    t += 0.0001
    sec = int(t)
    usec = int(round((t - sec) * 1e6))
    records.append(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)


SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01
for i in range(n):
    cli = "10.%d.%d.%d" % (1 + (i >> 16) % 200, (i >> 8) & 255, 1 + (i & 255) % 254)
    srv = "192.0.2.25"
    cport, sport = 20000 + i % 40000, 25
    cs, ss = 1000, 5000   # ISNs
    emit(frame(cli, srv, cport, sport, cs, 0, SYN, b""))
    emit(frame(srv, cli, sport, cport, ss, cs + 1, SYN | ACK, b""))
    cs += 1
    ss += 1
    emit(frame(cli, srv, cport, sport, cs, ss, ACK, b""))
    body = ("From: <s%d@example.test>\r\nTo: <r%d@example.test>\r\nSubject: message %d\r\n"
            "Message-ID: <m%d@example.test>\r\n\r\nbody of message %d\r\n.\r\n" % (i, i, i, i, i)).encode()
    conv = [
        (1, b"220 mx.example.test ESMTP\r\n"),
        (0, b"EHLO c%d.example.test\r\n" % i),
        (1, b"250-mx.example.test\r\n250 PIPELINING\r\n"),
        (0, b"MAIL FROM:<s%d@example.test>\r\n" % i),
        (1, b"250 2.1.0 Ok\r\n"),
        (0, b"RCPT TO:<r%d@example.test>\r\n" % i),
        (1, b"250 2.1.5 Ok\r\n"),
        (0, b"DATA\r\n"),
        (1, b"354 go\r\n"),
        (0, body),
        (1, b"250 2.0.0 Ok: queued as Q%d\r\n" % i),
        (0, b"QUIT\r\n"),
        (1, b"221 2.0.0 Bye\r\n"),
    ]
    for side, data in conv:
        if side == 0:
            emit(frame(cli, srv, cport, sport, cs, ss, ACK | PSH, data))
            cs += len(data)
        else:
            emit(frame(srv, cli, sport, cport, ss, cs, ACK | PSH, data))
            ss += len(data)
    emit(frame(srv, cli, sport, cport, ss, cs, FIN | ACK, b""))
    ss += 1
    emit(frame(cli, srv, cport, sport, cs, ss, FIN | ACK, b""))
    cs += 1
    emit(frame(srv, cli, sport, cport, ss, cs, ACK, b""))

with open(out, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    f.write(b"".join(records))
