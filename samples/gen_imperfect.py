#!/usr/bin/python3
"""Deterministic imperfect SMTP captures for smtpsift's reassembly (issue 3, NOTES-libs 1.15).

  /usr/bin/python3 gen_imperfect.py [OUTDIR]      (default: the directory of this script)

Needs scapy (Debian: python3-scapy; use /usr/bin/python3). Everything is fixed (timestamps,
ISNs, ports), so running it twice gives byte-identical files. Each capture holds one SMTP
session between 192.0.2.20 and 198.51.100.25:25 (port_reuse: two on one 4-tuple), built as
abstract TCP segments with correct seq/ack, then damaged on purpose: packets dropped,
swapped, retransmitted with other bytes, or cut by a snaplen. tests/golden/check_imperfect.py
asserts what smtpsift must make of each; the numbers it checks are printed by this script.
"""
import os
import struct
import sys

from scapy.all import IP, TCP, Ether, raw  # noqa: E402

BASE_TS = 1736168400          # 2025-01-06 13:00:00 UTC
STEP_US = 1000
CLIENT, SERVER = "192.0.2.20", "198.51.100.25"
ISN_C, ISN_S = 2000000000, 4000000000


def message(tag):
    lines = [f"From: Imperfect <{tag}@client.example.test>", f"To: <rcpt-{tag}@example.test>",
             f"Subject: imperfect {tag}", "Date: Mon, 06 Jan 2025 13:00:00 +0000",
             f"Message-ID: <imperfect-{tag}@client.example.test>", ""]
    lines += ["Body line %02d of the %s sample, long enough to be split." % (i, tag) for i in range(1, 9)]
    return ("\r\n".join(lines) + "\r\n").encode()


def conversation(tag, bdat=False):
    """(from_client, payload pieces): a payload given as a list is sent as several segments."""
    msg = message(tag)
    conv = [(False, [b"220 mx.example.test ESMTP imperfect\r\n"]),
            (True, [b"EHLO client.example.test\r\n"]),
            (False, [b"250-mx.example.test\r\n250-PIPELINING\r\n250-CHUNKING\r\n250 8BITMIME\r\n"]),
            (True, [b"MAIL FR", f"OM:<{tag}@client.example.test>\r\n".encode()]),
            (False, [b"250 2.1.0 Ok\r\n"]),
            (True, [f"RCPT TO:<rcpt-{tag}@example.test>\r\n".encode()]),
            (False, [b"250 2.1.5 Ok\r\n"])]
    q = len(msg) // 4
    if bdat:
        conv += [(True, [f"BDAT {len(msg)} LAST\r\n".encode() + msg[:q], msg[q:2 * q], msg[2 * q:]]),
                 (False, [b"250 2.0.0 Ok: queued as BDAT42\r\n"])]
    else:
        conv += [(True, [b"DATA\r\n"]), (False, [b"354 End data with <CR><LF>.<CR><LF>\r\n"]),
                 (True, [msg[:q], msg[q:2 * q], msg[2 * q:3 * q], msg[3 * q:] + b".\r\n"]),
                 (False, [b"250 2.0.0 Ok: queued as DATA42\r\n"])]
    conv += [(True, [b"QUIT\r\n"]), (False, [b"221 2.0.0 Bye\r\n"])]
    return conv


def session(tag, bdat=False, isn_c=ISN_C, isn_s=ISN_S, close=True):
    """Segments: dict(c2s, flags, seq, ack, data, name). The peer ACKs each payload group."""
    nxt = {True: isn_c, False: isn_s}
    segs = []

    def add(c2s, flags, data=b"", name=""):
        segs.append(dict(c2s=c2s, flags=flags, seq=nxt[c2s], ack=nxt[not c2s] if "A" in flags else 0,
                         data=data, name=name))
        nxt[c2s] += len(data) + (1 if ("S" in flags or "F" in flags) else 0)

    add(True, "S", name="syn")
    add(False, "SA", name="synack")
    add(True, "A", name="ack3")
    for i, (c2s, pieces) in enumerate(conversation(tag, bdat)):
        for k, p in enumerate(pieces):
            add(c2s, "PA", p, name=f"p{i}.{k}")
        add(not c2s, "A", name=f"ack{i}")
    if close:
        add(False, "FA", name="sfin")
        add(True, "FA", name="cfin")
        add(False, "A", name="lastack")
    return segs


def frame(seg, sport, data=None, seq=None):
    src, dst = (CLIENT, SERVER) if seg["c2s"] else (SERVER, CLIENT)
    sp, dp = (sport, 25) if seg["c2s"] else (25, sport)
    d = seg["data"] if data is None else data
    ip = IP(src=src, dst=dst, id=0, flags="DF", ttl=64) / TCP(
        sport=sp, dport=dp, flags=seg["flags"], seq=seg["seq"] if seq is None else seq,
        ack=seg["ack"], window=65535)
    if d:
        ip = ip / d
    mac_c, mac_s = "02:00:00:00:00:0c", "02:00:00:00:00:25"
    return raw(Ether(src=mac_c if seg["c2s"] else mac_s, dst=mac_s if seg["c2s"] else mac_c) / ip)


def write_pcap(path, frames, snaplen=262144):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, snaplen, 1))
        for i, fr in enumerate(frames):
            ts = BASE_TS * 1000000 + (i + 1) * STEP_US
            cap = fr[:snaplen]
            f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(cap), len(fr)))
            f.write(cap)


def by_name(segs, name):
    return next(s for s in segs if s["name"] == name)


def build(outdir):
    info = {}

    def out(name, frames, snaplen=262144, note=""):
        write_pcap(os.path.join(outdir, name), frames, snaplen)
        info[name] = note

    # 1. capture starts mid-connection: first packet is the client's MAIL FROM ("OM:..." half
    #    of it is the second piece; start at the first piece).
    s = session("midstream")
    i = s.index(by_name(s, "p3.0"))
    out("imp_midstream.pcap", [frame(x, 42001) for x in s[i:]], note="no handshake, greeting, EHLO")
    # 2. third handshake ACK missing.
    s = session("noack3")
    out("imp_no_ack3.pcap", [frame(x, 42002) for x in s if x["name"] != "ack3"])
    # 3. the client's handshake ACK captured before the SYN-ACK.
    s = session("ackfirst")
    s[1], s[2] = s[2], s[1]
    out("imp_ack_before_synack.pcap", [frame(x, 42003) for x in s])
    # 4./5. one direction only.
    s = session("clientonly")
    srv = sum(len(x["data"]) for x in s if not x["c2s"])
    out("imp_client_only.pcap", [frame(x, 42004) for x in s if x["c2s"]],
        note=f"server bytes not captured: {srv} + 1 FIN")
    s = session("serveronly")
    cli = sum(len(x["data"]) for x in s if x["c2s"])
    out("imp_server_only.pcap", [frame(x, 42005) for x in s if not x["c2s"]],
        note=f"client bytes not captured: {cli} + 1 FIN")
    # 6. lost segment inside a command: "MAIL FR" never captured.
    s = session("gapcmd")
    out("imp_gap_command.pcap", [frame(x, 42006) for x in s if x["name"] != "p3.0"], note="7 bytes lost")
    # 7. lost segment inside DATA content (second quarter of the message).
    s = session("gapdata")
    lost = by_name(s, "p9.1")
    out("imp_gap_data.pcap", [frame(x, 42007) for x in s if x is not lost],
        note=f"{len(lost['data'])} bytes lost at content offset {len(by_name(s, 'p9.0')['data'])}")
    # 8. lost segment inside a BDAT chunk.
    s = session("gapbdat", bdat=True)
    lost = by_name(s, "p7.1")
    out("imp_gap_bdat.pcap", [frame(x, 42008) for x in s if x is not lost],
        note=f"{len(lost['data'])} bytes of the chunk lost")
    # 9. out-of-order and retransmitted segments: content pieces sent 0,2,1,3 and piece 0 again.
    s = session("reorder")
    a, b = s.index(by_name(s, "p9.1")), s.index(by_name(s, "p9.2"))
    s[a], s[b] = s[b], s[a]
    s.insert(b + 1, dict(by_name(s, "p9.0")))
    out("imp_reorder.pcap", [frame(x, 42009) for x in s])
    # 10. overlapping retransmission with different bytes: piece 1 of the content sent again,
    #     shifted back 10 bytes, with other content; the first copy is what the server kept.
    s = session("overlap")
    p1 = by_name(s, "p9.1")
    j = s.index(p1)
    frames = [frame(x, 42010) for x in s]
    frames.insert(j + 1, frame(p1, 42010, data=b"X" * (len(p1["data"]) + 10), seq=p1["seq"] - 10))
    out("imp_overlap.pcap", frames)
    # 11. port reuse: the first session never closes, a new SYN (other ISN) takes the 4-tuple.
    s1 = session("reuse1", close=False)
    s2 = session("reuse2", isn_c=ISN_C + 500000, isn_s=ISN_S + 700000)
    out("imp_port_reuse.pcap", [frame(x, 42011) for x in s1 + s2])
    # 12. a connection that never closes.
    s = session("noclose", close=False)
    out("imp_noclose.pcap", [frame(x, 42012) for x in s])
    # 13. snaplen 200: the long DATA segments are cut.
    s = session("snaplen")
    frames = [frame(x, 42013) for x in s]
    cut = sum(max(0, len(f) - 200) for f in frames)
    out("imp_snaplen.pcap", frames, snaplen=200, note=f"{cut} bytes cut")
    return info


if __name__ == "__main__":
    d = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for name, note in build(d).items():
        print(name, note)
