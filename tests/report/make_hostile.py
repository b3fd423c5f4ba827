#!/usr/bin/env python3
"""make_hostile.py OUT.pcap — writes one well-formed SMTP session (Ethernet/
IPv4/TCP, handshake, correct sequence numbers, FIN) whose message carries
markup in every attacker-controlled field a report shows: Subject, From
display name, attachment file name and body. For the HTML report's escaping
test. Standard library only, deterministic."""
import os
import struct
import sys

CLI, SRV, CP, SP = "10.9.9.1", "10.9.9.2", 40123, 25
SUBJECT = "</script><img src=x onerror=alert(1)>"
FNAME = "<img src=x onerror=alert(2)>.txt"


sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'samples'))
from pcaplib import frame  # noqa: E402  (shared frame builder)


def main():
    body = (
        "From: \"<script>alert(3)</script>\" <mallory@evil.test>\r\n"
        "To: victim@example.test\r\n"
        f"Subject: {SUBJECT}\r\n"
        "Message-ID: <hostile-1@evil.test>\r\n"
        "Date: Tue, 07 Jan 2025 09:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        "--b1\r\nContent-Type: text/plain\r\n\r\n<b>bold?</b> & \"quotes\"\r\n"
        f"--b1\r\nContent-Type: text/plain; name=\"{FNAME}\"\r\n"
        f"Content-Disposition: attachment; filename=\"{FNAME}\"\r\n\r\nhello\r\n"
        "--b1--\r\n.\r\n")
    talk = [
        ("S", "220 mx.evil.test ESMTP\r\n"),
        ("C", "EHLO <svg onload=alert(4)>\r\n"),
        ("S", "250-mx.evil.test\r\n250 8BITMIME\r\n"),
        ("C", "MAIL FROM:<mallory@evil.test>\r\n"), ("S", "250 2.1.0 Ok\r\n"),
        ("C", "RCPT TO:<victim@example.test>\r\n"), ("S", "250 2.1.5 Ok\r\n"),
        ("C", "DATA\r\n"), ("S", "354 go\r\n"),
        ("C", body), ("S", "250 2.0.0 Ok: queued as HOSTILE1\r\n"),
        ("C", "QUIT\r\n"), ("S", "221 2.0.0 Bye\r\n"),
    ]
    recs, t = [], 1736240400.0
    cs, ss = 1000, 5000

    def emit(f):
        nonlocal t
        t += 0.001
        recs.append(struct.pack("<IIII", int(t), int(round((t % 1) * 1e6)), len(f), len(f)) + f)

    emit(frame(CLI, SRV, CP, SP, cs, 0, 0x02, b""))
    emit(frame(SRV, CLI, SP, CP, ss, cs + 1, 0x12, b""))
    cs += 1
    ss += 1
    emit(frame(CLI, SRV, CP, SP, cs, ss, 0x10, b""))
    for who, text in talk:
        data = text.encode()
        if who == "C":
            emit(frame(CLI, SRV, CP, SP, cs, ss, 0x18, data))
            cs += len(data)
            emit(frame(SRV, CLI, SP, CP, ss, cs, 0x10, b""))
        else:
            emit(frame(SRV, CLI, SP, CP, ss, cs, 0x18, data))
            ss += len(data)
            emit(frame(CLI, SRV, CP, SP, cs, ss, 0x10, b""))
    emit(frame(SRV, CLI, SP, CP, ss, cs, 0x11, b""))
    emit(frame(CLI, SRV, CP, SP, cs, ss + 1, 0x11, b""))
    emit(frame(SRV, CLI, SP, CP, ss + 1, cs + 1, 0x10, b""))
    with open(sys.argv[1], "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1) + b"".join(recs))


if __name__ == "__main__":
    main()
