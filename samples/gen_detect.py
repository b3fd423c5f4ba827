#!/usr/bin/env python3
"""Writes the labelled detection set: samples/detect_set.pcap (Ethernet/IPv4/TCP,
complete SMTP sessions with correct sequence numbers, deterministic) and
samples/detect_labels.tsv (message or session -> the rules that must fire).
Honest mail (including the odd-looking: mailing lists, SRS forwarding, bounces
with <>, IDN, submission with AUTH) and one forgery of each kind docs/detection.md
lists, plus the session-security cases the SMTP dissector decides (STARTTLS not
used, refused or injected into, <LF>.<LF> smuggling accepted or attempted) with
their honest near misses (STARTTLS used, no STARTTLS offered, dot-stuffed lines).
The set is meant to be ingested with the configuration in
samples/detect.conf. Standard library only; same frame builder as
tests/cli/make_sessions.py.
Usage: gen_detect.py [OUT_DIR]   (default: the directory of this script)"""
import base64
import os
import struct
import sys

out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
SERVER = "192.0.2.25"          # mx.corp.example (not in the local networks of detect.conf)


sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pcaplib import csum, frame, ip  # noqa: E402  (shared frame builder)


records = []
t = 1700000000.0


def emit(data):
    global t
    t += 0.0001
    sec = int(t)
    usec = int(round((t - sec) * 1e6))
    records.append(struct.pack("<IIII", sec, usec, len(data), len(data)) + data)


SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01
port = [30000]
labels = []   # (key, kind, rules, what)


def session(cli, helo, txns=(), auth=(), srv=SERVER):
    """One connection: EHLO, AUTH attempts (list of True/False), then
    transactions (mail_from, [(rcpt, code)], message bytes or None)."""
    conv = [(1, b"220 mx.corp.example ESMTP\r\n"),
            (0, b"EHLO " + helo.encode() + b"\r\n"),
            (1, b"250-mx.corp.example\r\n250-AUTH PLAIN\r\n250 PIPELINING\r\n")]
    for ok in auth:
        cred = base64.b64encode(b"\0alice\0" + (b"right" if ok else b"wrong")).decode()
        conv.append((0, ("AUTH PLAIN %s\r\n" % cred).encode()))
        conv.append((1, b"235 2.7.0 Authentication successful\r\n" if ok
                     else b"535 5.7.8 Error: authentication failed\r\n"))
    for mail_from, rcpts, msg in txns:
        conv += [(0, ("MAIL FROM:<%s>\r\n" % mail_from).encode()), (1, b"250 2.1.0 Ok\r\n")]
        for r, code in rcpts:
            conv += [(0, ("RCPT TO:<%s>\r\n" % r).encode()),
                     (1, b"250 2.1.5 Ok\r\n" if code == 250 else b"554 5.7.1 Relay access denied\r\n")]
        if any(code == 250 for _, code in rcpts) and msg is not None:
            conv += [(0, b"DATA\r\n"), (1, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
                     (0, msg + b"\r\n.\r\n"), (1, b"250 2.0.0 Ok: queued as Q%d\r\n" % (port[0] + 1))]   # wire() takes the next port
        else:
            conv += [(0, b"RSET\r\n"), (1, b"250 2.0.0 Ok\r\n")]
    conv += [(0, b"QUIT\r\n"), (1, b"221 2.0.0 Bye\r\n")]
    wire(cli, srv, conv)


def wire(cli, srv, conv):
    """One TCP connection carrying conv, a list of (0 client / 1 server, bytes), one
    segment per item, between a handshake and a FIN exchange."""
    port[0] += 1
    cport, sport = port[0], 25
    cs, ss = 1000, 5000
    emit(frame(cli, srv, cport, sport, cs, 0, SYN, b""))
    emit(frame(srv, cli, sport, cport, ss, cs + 1, SYN | ACK, b""))
    cs += 1
    ss += 1
    emit(frame(cli, srv, cport, sport, cs, ss, ACK, b""))
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


def message(key, frm, to="alice@corp.example", extra=(), body="Hello.\r\n", subject=None,
            ctype="text/plain; charset=utf-8"):
    lines = list(extra) + ["From: %s" % frm, "To: <%s>" % to,
                           "Subject: %s" % (subject or key),
                           "Date: Tue, 14 Nov 2023 22:13:20 +0000",
                           "Message-ID: <%s@detect.test>" % key,
                           "MIME-Version: 1.0", "Content-Type: %s" % ctype]
    return ("\r\n".join(lines) + "\r\n\r\n" + body).encode()


def msg_session(key, kind, rules, what, cli, helo, mail_from, frm, rcpts=(("alice@corp.example", 250),),
                auth=(), **kw):
    session(cli, helo, [(mail_from, list(rcpts), message(key, frm, to=rcpts[0][0], **kw))], auth=auth)
    labels.append((key, kind, rules, what))


def dkim(d):
    return ("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=%s; s=s1;\r\n"
            " h=from:to:subject; bh=AAAA; b=BBBB" % d)


# ---------------- honest ----------------
msg_session("h01", "honest", "", "inbound from a partner, DKIM aligned",
            "198.51.100.10", "mail.partner.example", "bob@partner.example", "Bob <bob@partner.example>",
            extra=[dkim("partner.example")])
msg_session("h02", "honest", "", "internal mail from a local network",
            "10.1.2.3", "ws1.corp.example", "alice@corp.example", "Alice <alice@corp.example>",
            rcpts=(("bob@corp.example", 250),))
msg_session("h03", "honest", "", "submission from outside with successful AUTH, to an outside recipient",
            "203.0.113.50", "[203.0.113.50]", "alice@corp.example", "Alice <alice@corp.example>",
            rcpts=(("friend@partner.example", 250),), auth=(True,))
msg_session("h04", "honest", "envelope_misaligned_list", "mailing list: List-Id, list envelope, Sender and Reply-To",
            "198.51.100.20", "lists.listhost.example", "dev-bounces@listhost.example",
            "Carol <carol@othercorp.example>",
            extra=["List-Id: Developers <dev.listhost.example>", "Sender: dev-bounces@listhost.example",
                   "Reply-To: dev@listhost.example", dkim("listhost.example")])
msg_session("h05", "honest", "envelope_misaligned_forwarded", "forwarded with an SRS envelope",
            "198.51.100.30", "fwd.forwarder.example", "SRS0=HHH=TT=partner.example=bob@forwarder.example",
            "Bob <bob@partner.example>", extra=[dkim("partner.example")])
msg_session("h06", "honest", "", "bounce with the null sender <>",
            "198.51.100.40", "mx.partner.example", "", "Mail Delivery System <MAILER-DAEMON@mx.partner.example>",
            subject="Undelivered Mail Returned to Sender")
msg_session("h07", "honest", "envelope_from_strict_misaligned", "newsletter: bounce subdomain (relaxed aligned)",
            "198.51.100.50", "out.news.example", "b-123@em.news.example", "News <letter@news.example>",
            extra=[dkim("news.example")])
msg_session("h08", "honest", "envelope_misaligned_list,local_domain_from_list",
            "a local author's post coming back from an outside list",
            "198.51.100.20", "lists.listhost.example", "dev-bounces@listhost.example",
            "Alice <alice@corp.example>", extra=["List-Id: <dev.listhost.example>"])
msg_session("h09", "honest", "", "IDN sender domain in one script (münchen)",
            "198.51.100.60", "mail.xn--mnchen-3ya.example", "info@xn--mnchen-3ya.example",
            "Stadt <info@xn--mnchen-3ya.example>")
msg_session("h10", "honest", "", "protected name from the local domain, inside",
            "10.1.2.4", "ws2.corp.example", "alice.chief@corp.example", "Alice Chief <alice.chief@corp.example>",
            rcpts=(("bob@corp.example", 250),))
msg_session("h11", "honest", "", "display name that is the real address",
            "198.51.100.10", "mail.partner.example", "bob@partner.example",
            "\"bob@partner.example\" <bob@partner.example>")
msg_session("h12", "honest", "", "failing Authentication-Results from an untrusted server",
            "198.51.100.10", "mail.partner.example", "bob@partner.example", "<bob@partner.example>",
            extra=["Authentication-Results: mx.partner.example; spf=fail smtp.mailfrom=bob@partner.example"])
msg_session("h13", "honest", "", "Received chain whose newest hop is the client",
            "198.51.100.10", "mail.partner.example", "bob@partner.example", "<bob@partner.example>",
            extra=["Received: from ws7 (ws7.partner.example [192.168.5.5])\r\n"
                   "\tby mail.partner.example (198.51.100.10) with ESMTP id 4AB12;\r\n"
                   "\tTue, 14 Nov 2023 22:13:19 +0000"])
msg_session("h14", "honest", "", "one mistyped password, then AUTH succeeds",
            "203.0.113.60", "laptop.corp.example", "alice@corp.example", "<alice@corp.example>",
            rcpts=(("friend@partner.example", 250),), auth=(False, True))
msg_session("h15", "honest", "", "outside recipient refused (not a relay)",
            "198.51.100.70", "mail.elsewhere.example", "x@elsewhere.example", "<x@elsewhere.example>",
            rcpts=(("alice@corp.example", 250), ("victim@faraway.example", 554)))

# ---------------- forged / risky ----------------
msg_session("f01", "forged", "envelope_from_misaligned", "From not aligned with MAIL FROM",
            "203.0.113.5", "mail.spam.example", "x@spam.example", "Service <service@bigbank.example>")
msg_session("f02", "forged", "local_domain_from_outside", "local From from outside without AUTH",
            "203.0.113.6", "mail.attacker.example", "alice@corp.example", "Alice <alice@corp.example>",
            rcpts=(("bob@corp.example", 250),))
msg_session("f03", "forged", "display_name_address_mismatch", "display name shows another address",
            "203.0.113.7", "mail.attacker.example", "alice@attacker.example",
            "\"alice@corp.example\" <alice@attacker.example>")
msg_session("f04", "forged", "display_name_protected", "protected name from a free-mail domain",
            "203.0.113.8", "smtp.freemail.example", "alice.chief.ceo@freemail.example",
            "Alice Chief <alice.chief.ceo@freemail.example>")
msg_session("f05", "forged", "lookalike_domain_confusable", "paypa1.com: confusable of protected paypal.com",
            "203.0.113.9", "mail.paypa1.com", "support@paypa1.com", "PayPal <support@paypa1.com>")
msg_session("f06", "forged", "lookalike_domain_edit", "crop.example: transposition of local corp.example",
            "203.0.113.10", "mail.crop.example", "hr@crop.example", "HR <hr@crop.example>")
msg_session("f07", "forged", "lookalike_domain_confusable,lookalike_domain_mixed_script",
            "xn--pypal-4ve.com: Cyrillic a in paypal (punycode)",
            "203.0.113.11", "mail.xn--pypal-4ve.com", "security@xn--pypal-4ve.com",
            "PayPal <security@xn--pypal-4ve.com>")
msg_session("f08", "forged", "lookalike_domain_seen", "partnre.example: look-alike of partner.example seen earlier",
            "203.0.113.12", "mail.partnre.example", "bob@partnre.example", "Bob <bob@partnre.example>")
msg_session("f09", "forged", "helo_ip_mismatch", "HELO address literal of another host",
            "203.0.113.13", "[198.51.100.99]", "news@shop.example", "<news@shop.example>")
msg_session("f10", "forged", "helo_invalid", "HELO that is not a host name",
            "203.0.113.14", "bad_host!", "a@quux.example", "<a@quux.example>")
msg_session("f11", "forged", "helo_local_name_from_outside", "HELO with a local name from outside",
            "203.0.113.15", "mx.corp.example", "deals@retail.example", "<deals@retail.example>")
msg_session("f12", "forged", "received_hop_mismatch", "newest Received hop is not the client",
            "203.0.113.16", "mail.sender12.example", "n@sender12.example", "<n@sender12.example>",
            extra=["Received: from trusted (trusted.sender12.example [10.9.9.9])\r\n"
                   "\tby relay.sender12.example (198.51.100.200) with ESMTP id 77;\r\n"
                   "\tTue, 14 Nov 2023 22:13:19 +0000"])
msg_session("f13", "forged", "dkim_not_aligned", "DKIM d= of another organization",
            "203.0.113.17", "mail.vendor.example", "billing@vendor.example", "<billing@vendor.example>",
            extra=[dkim("evil-signer.example")])
msg_session("f14", "forged", "auth_results_fail", "trusted Authentication-Results says dmarc=fail",
            "10.0.0.25", "mx.corp.example", "support@bank.example", "<support@bank.example>",
            extra=["Authentication-Results: mx.corp.example; spf=fail smtp.mailfrom=bank.example;\r\n"
                   " dkim=none; dmarc=fail (p=reject) header.from=bank.example"])
msg_session("f15", "forged", "open_relay", "outside client, no AUTH, outside recipient accepted",
            "203.0.113.18", "mail.relay15.example", "a@relay15.example", "<a@relay15.example>",
            rcpts=(("victim@faraway.example", 250),))
msg_session("f16", "forged", "reply_to_divergent", "Reply-To of another organization",
            "203.0.113.19", "mail.store.example", "news@store.example", "<news@store.example>",
            extra=["Reply-To: <collect@harvest.example>"])
msg_session("f17", "forged", "sender_header_divergent", "Sender of another organization",
            "203.0.113.20", "mail.kiosk.example", "info@kiosk.example", "<info@kiosk.example>",
            extra=["Sender: <agent@other-sender.example>"])
msg_session("f18", "forged", "return_path_divergent", "Return-Path naming someone else",
            "203.0.113.21", "mail.gadgets.example", "info@gadgets.example", "<info@gadgets.example>",
            extra=["Return-Path: <bounce@elsewhere-rp.example>"])
msg_session("f19", "risky", "attachment_bidi_override,attachment_executable",
            "attachment name with U+202E (shows as ...exe.pdf)",
            "203.0.113.22", "mail.docs.example", "scan@docs.example", "<scan@docs.example>",
            ctype='multipart/mixed; boundary="b1"',
            body="--b1\r\nContent-Type: text/plain\r\n\r\nsee attachment\r\n"
                 "--b1\r\nContent-Type: application/octet-stream\r\n"
                 "Content-Disposition: attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe\r\n"
                 "Content-Transfer-Encoding: base64\r\n\r\n"
                 + base64.b64encode(b"MZ" + bytes(126)).decode() + "\r\n--b1--\r\n")

# brute force: three sessions from one client, two failed AUTHs each, no mail
for _ in range(3):
    session("203.0.113.66", "[203.0.113.66]", auth=(False, False))
labels.append(("session:203.0.113.66", "risky", "auth_bruteforce,auth_cleartext",
               "6 failed AUTHs in 3 sessions, AUTH PLAIN without TLS"))
# AUTH PLAIN without TLS is a risk even when the mail is honest (h03, h14)
labels.append(("session:203.0.113.50", "risky", "auth_cleartext", "h03's session: AUTH PLAIN without TLS"))
labels.append(("session:203.0.113.60", "risky", "auth_cleartext", "h14's session: AUTH PLAIN without TLS"))

# ---------------- security of the session (decided by dissectors/smtp.c) ----------------
# Each session has its own client address, so its findings land on "session:IP" alone.
EXT_TLS = b"250-mx.corp.example\r\n250-STARTTLS\r\n250 PIPELINING\r\n"
EXT_PLAIN = b"250-mx.corp.example\r\n250 PIPELINING\r\n"


def greet(helo, ext):
    return [(1, b"220 mx.corp.example ESMTP\r\n"), (0, b"EHLO " + helo.encode() + b"\r\n"), (1, ext)]


def deliver(mail_from, msg, rcpt="alice@corp.example"):
    """MAIL, RCPT, DATA and the message ended by CRLF.CRLF, each answered."""
    return [(0, ("MAIL FROM:<%s>\r\n" % mail_from).encode()), (1, b"250 2.1.0 Ok\r\n"),
            (0, ("RCPT TO:<%s>\r\n" % rcpt).encode()), (1, b"250 2.1.5 Ok\r\n"),
            (0, b"DATA\r\n"), (1, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
            (0, msg + b"\r\n.\r\n"), (1, b"250 2.0.0 Ok: queued as Q%d\r\n" % (port[0] + 1))]


QUIT = [(0, b"QUIT\r\n"), (1, b"221 2.0.0 Bye\r\n")]


def client_hello(sni):
    """A TLS 1.3 ClientHello record (RFC 8446 4.1.2) with server_name and supported_versions."""
    name = sni.encode()
    entry = b"\0" + struct.pack("!H", len(name)) + name
    exts = (struct.pack("!HHH", 0, len(entry) + 2, len(entry)) + entry
            + struct.pack("!HHB", 43, 3, 2) + b"\x03\x04")
    body = (b"\x03\x03" + bytes(range(32)) + b"\0" + b"\x00\x02\x13\x01" + b"\x01\x00"
            + struct.pack("!H", len(exts)) + exts)
    hs = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(hs)) + hs


TLS_AFTER_220 = [(0, client_hello("mx.corp.example")),
                 (1, b"\x16\x03\x03\x00\x04\x02\x00\x00\x00" + b"\x17\x03\x03\x00\x08" + bytes(8)),
                 (0, b"\x17\x03\x03\x00\x08" + bytes(range(8)))]


def sess_label(cli, kind, rules, what):
    labels.append(("session:" + cli, kind, rules, what))


def msg_label(key, kind, rules, what):
    labels.append((key, kind, rules, what))


# true positives
wire("203.0.113.101", SERVER, greet("mail.clearsend.example", EXT_TLS)
     + deliver("info@clearsend.example", message("t01", "<info@clearsend.example>")) + QUIT)
msg_label("t01", "honest", "", "honest message on a session that ignored the offered STARTTLS")
sess_label("203.0.113.101", "risky", "starttls_not_used", "STARTTLS offered, MAIL sent in clear")

wire("203.0.113.102", SERVER, greet("mail.injector.example", EXT_TLS)
     + [(0, b"STARTTLS\r\nMAIL FROM:<ceo@corp.example>\r\n"), (1, b"220 2.0.0 Ready to start TLS\r\n")]
     + TLS_AFTER_220)
sess_label("203.0.113.102", "forged", "starttls_plaintext_injection",
           "MAIL FROM in the same segment as STARTTLS, before the 220 (CVE-2011-0411 shape)")

wire("203.0.113.103", SERVER, greet("mail.refusal.example", EXT_TLS)
     + [(0, b"STARTTLS\r\n"), (1, b"454 4.7.0 TLS not available due to local problem\r\n")]
     + deliver("info@refusal.example", message("t03", "<info@refusal.example>")) + QUIT)
msg_label("t03", "honest", "", "honest message sent in clear after STARTTLS was refused")
sess_label("203.0.113.103", "risky", "starttls_refused", "STARTTLS answered 454, the session went on in clear")

smuggled = (b"MAIL FROM:<ceo@corp.example>\r\nRCPT TO:<alice@corp.example>\r\nDATA\r\n"
            + message("t04b", "CEO <ceo@corp.example>", subject="Wire the money today"))
wire("203.0.113.104", SERVER, greet("mail.smuggler.example", EXT_PLAIN)
     + deliver("news@smuggler.example", message("t04a", "<news@smuggler.example>") + b"\n.\n" + smuggled)[:-1]
     + [(1, b"250 2.0.0 Ok: queued as Q%d\r\n" % (port[0] + 1)), (1, b"250 2.1.0 Ok\r\n"), (1, b"250 2.1.5 Ok\r\n"),
        (1, b"354 End data with <CR><LF>.<CR><LF>\r\n"), (1, b"250 2.0.0 Ok: queued as R%d\r\n" % (port[0] + 1))]
     + QUIT)
msg_label("t04a", "honest", "", "carrier message of the smuggling (ends at <LF>.<LF>)")
msg_label("t04b", "forged", "local_domain_from_outside", "message smuggled after <LF>.<LF>: a local From from outside")
sess_label("203.0.113.104", "forged", "nonstandard_data_terminator,bare_lf,content_before_354",
           "server took <LF>.<LF> as the end of data; the smuggled MAIL/RCPT/DATA got their own replies")

wire("203.0.113.105", SERVER, greet("mail.contraband.example", EXT_PLAIN)
     + deliver("news@contraband.example", message("t05", "<news@contraband.example>") + b"\n.\n"
               + smuggled.replace(b"t04b", b"t05b"))
     + QUIT)
msg_label("t05", "honest", "", "message carrying a smuggling attempt the server did not fall for")
sess_label("203.0.113.105", "forged", "smuggling_attempt,bare_lf",
           "<LF>.<LF> then MAIL/RCPT lines, answered only after CRLF.CRLF: all one message")

# honest near misses
wire("198.51.100.101", SERVER, greet("mail.tlsgood.example", EXT_TLS)
     + [(0, b"STARTTLS\r\n"), (1, b"220 2.0.0 Ready to start TLS\r\n")] + TLS_AFTER_220)
sess_label("198.51.100.101", "honest", "", "STARTTLS offered and used: after the 220 only TLS records")

wire("198.51.100.102", SERVER, greet("mail.plainmx.example", EXT_PLAIN)
     + deliver("info@plainmx.example", message("t07", "<info@plainmx.example>")) + QUIT)
msg_label("t07", "honest", "", "mail in clear to a server that does not offer STARTTLS")
sess_label("198.51.100.102", "honest", "", "no STARTTLS offered, client in clear")

wire("198.51.100.103", SERVER, greet("mail.dotty.example", EXT_PLAIN)
     + deliver("info@dotty.example", message("t08", "<info@dotty.example>",
                                              body="..hidden\r\n...\r\n..\r\n.. spaced\r\nend\r\n")) + QUIT)
msg_label("t08", "honest", "", "canonical CRLF.CRLF end, lines starting with dots (dot-stuffed)")
sess_label("198.51.100.103", "honest", "", "dot-stuffed lines are not terminators")

with open(os.path.join(out_dir, "detect_set.pcap"), "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
    f.write(b"".join(records))
with open(os.path.join(out_dir, "detect_labels.tsv"), "w") as f:
    f.write("key\tkind\texpected_rules\twhat\n")
    for key, kind, rules, what in labels:
        f.write("%s\t%s\t%s\t%s\n" % (key, kind, rules, what))
