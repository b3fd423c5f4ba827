#!/usr/bin/python3
"""Deterministic synthetic SMTP captures for smtpsift (cases a real MTA on loopback won't give).

  /usr/bin/python3 gen_synthetic.py [OUTDIR]      (default: the directory of this script)

Needs scapy (Debian: python3-scapy; use /usr/bin/python3).  Everything is fixed: timestamps,
ISNs, IP ids, MACs, ports; addresses come from the documentation ranges 192.0.2.0/24,
198.51.100.0/24 and 2001:db8::/32.  Running it twice gives byte-identical files.

One function (session()) builds the TCP conversation as abstract segments with correct
seq/ack numbers; small wrappers render each segment as a frame for one encapsulation, and
write_pcap()/write_pcapng() write the files by hand (linktype set explicitly).
"""
import os
import struct
import sys

from scapy.all import IP, IPv6, TCP, Ether, Dot1Q, Dot1AD, raw  # noqa: E402
from scapy.contrib.mpls import MPLS  # noqa: E402

BASE_TS = 1736161200          # 2025-01-06 11:00:00 UTC
STEP_US = 1000                # 1 ms between packets
MAC_CLIENT = "02:00:00:00:00:0c"
MAC_SERVER = "02:00:00:00:00:25"
V4_CLIENT, V4_SERVER = "192.0.2.10", "198.51.100.25"
V6_CLIENT, V6_SERVER = "2001:db8::10", "2001:db8:1::25"
ISN_CLIENT, ISN_SERVER = 1000000000, 3000000000
QUEUE_ID = "ABC123"

# ----------------------------------------------------------------------------- the session


def message(tag):
    """The message (exact bytes the server receives, CRLF, ends with CRLF)."""
    lines = [
        f"From: Synth {tag} <{tag}-sender@client.example.test>",
        f"To: <{tag}-rcpt@example.test>",
        f"Subject: synthetic {tag} session",
        "Date: Mon, 06 Jan 2025 11:00:00 +0000",
        f"Message-ID: <synth-{tag}@client.example.test>",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        f"Synthetic SMTP session for the {tag} sample.",
    ]
    lines += ["Filler line %02d so that the DATA segment is worth fragmenting." % i for i in range(1, 9)]
    lines += ["-- ", "gen_synthetic.py"]
    return ("\r\n".join(lines) + "\r\n").encode("ascii")


def conversation(tag):
    """SMTP payloads in order: list of (from_client, bytes)."""
    msg = message(tag)
    return [
        (False, b"220 mx.example.test ESMTP synthetic\r\n"),
        (True, b"EHLO client.example.test\r\n"),
        (False, b"250-mx.example.test\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250 8BITMIME\r\n"),
        (True, f"MAIL FROM:<{tag}-sender@client.example.test>\r\n".encode()),
        (False, b"250 2.1.0 Ok\r\n"),
        (True, f"RCPT TO:<{tag}-rcpt@example.test>\r\n".encode()),
        (False, b"250 2.1.5 Ok\r\n"),
        (True, b"DATA\r\n"),
        (False, b"354 End data with <CR><LF>.<CR><LF>\r\n"),
        (True, msg + b".\r\n"),                       # no line starts with '.', no stuffing
        (False, f"250 2.0.0 Ok: queued as {QUEUE_ID}\r\n".encode()),
        (True, b"QUIT\r\n"),
        (False, b"221 2.0.0 Bye\r\n"),
    ]


def session(tag):
    """Return the TCP segments of one complete session.

    Each segment: dict(c2s=bool, flags=str, seq=int, ack=int, data=bytes).
    Handshake, one data segment per SMTP payload (with a pure ACK from the peer after it),
    server closes first after 221 (as Postfix does), client FIN, final ACK.
    """
    segs = []
    nxt = {True: ISN_CLIENT, False: ISN_SERVER}      # next seq to send, per side

    def send(c2s, flags, data=b""):
        segs.append(dict(c2s=c2s, flags=flags, seq=nxt[c2s] & 0xFFFFFFFF,
                         ack=(nxt[not c2s] & 0xFFFFFFFF) if "A" in flags else 0, data=data))
        nxt[c2s] += len(data) + (1 if ("S" in flags or "F" in flags) else 0)

    send(True, "S")
    send(False, "SA")
    send(True, "A")
    for c2s, data in conversation(tag):
        send(c2s, "PA", data)
        send(not c2s, "A")
    send(False, "FA")
    send(True, "FA")
    send(False, "A")
    return segs


# ----------------------------------------------------------------------------- IP + TCP


class Ids:
    """Deterministic IPv4 identification numbers per direction."""

    def __init__(self):
        self.n = {True: 0x1000, False: 0x5000}

    def next(self, c2s):
        self.n[c2s] += 1
        return self.n[c2s]


def tcp_layer(seg, sport, dport):
    opts = [("MSS", 1460)] if "S" in seg["flags"] else []
    t = TCP(sport=sport if seg["c2s"] else dport, dport=dport if seg["c2s"] else sport,
            seq=seg["seq"], ack=seg["ack"], flags=seg["flags"], window=65535, options=opts)
    return t


def ip_packet(seg, v6, ids, sport=41000, dport=25, bad_csum=False, df=True):
    """The IP packet (scapy object) for one segment."""
    src, dst = (V6_CLIENT, V6_SERVER) if v6 else (V4_CLIENT, V4_SERVER)
    if not seg["c2s"]:
        src, dst = dst, src
    t = tcp_layer(seg, sport, dport) / seg["data"] if seg["data"] else tcp_layer(seg, sport, dport)
    if v6:
        pkt = IPv6(src=src, dst=dst, hlim=64) / t
    else:
        pkt = IP(src=src, dst=dst, ttl=64, id=ids.next(seg["c2s"]), flags="DF" if df else 0) / t
    pkt = pkt.__class__(raw(pkt))                   # freeze lengths and checksums
    if bad_csum:
        good = pkt[TCP].chksum
        pkt[TCP].chksum = good ^ 0x5A5A             # always wrong, deterministic
        pkt = pkt.__class__(raw(pkt))
    return pkt


def fragment_v4(pkt, size=200):
    """Split an IPv4 packet into fragments carrying `size` payload bytes each (multiple of 8)."""
    payload = raw(pkt[IP].payload)
    frags = []
    for off in range(0, len(payload), size):
        chunk = payload[off:off + size]
        mf = off + size < len(payload)
        f = IP(src=pkt[IP].src, dst=pkt[IP].dst, ttl=pkt[IP].ttl, id=pkt[IP].id, proto=6,
               flags="MF" if mf else 0, frag=off // 8) / chunk
        frags.append(IP(raw(f)))
    return frags


# ----------------------------------------------------------------------------- link wrappers

def mac_pair(seg):
    return (MAC_CLIENT, MAC_SERVER) if seg["c2s"] else (MAC_SERVER, MAC_CLIENT)


def w_ether(seg, ippkt):
    s, d = mac_pair(seg)
    return raw(Ether(src=s, dst=d) / ippkt)


def w_vlan(seg, ippkt):
    s, d = mac_pair(seg)
    return raw(Ether(src=s, dst=d) / Dot1Q(vlan=42, prio=0) / ippkt)


def w_qinq(seg, ippkt):
    s, d = mac_pair(seg)
    # outer S-tag 0x88a8 (vlan 100), inner C-tag 0x8100 (vlan 200), then IPv6 (0x86dd)
    return raw(Ether(src=s, dst=d, type=0x88A8) / Dot1AD(vlan=100, type=0x8100) /
               Dot1Q(vlan=200, type=0x86DD) / ippkt)


def w_mpls(seg, ippkt):
    s, d = mac_pair(seg)
    return raw(Ether(src=s, dst=d, type=0x8847) / MPLS(label=16000, cos=0, s=1, ttl=64) / ippkt)


def w_sll(seg, ippkt):
    # Linux cooked v1: packet type (0 = to us, 4 = outgoing), ARPHRD_ETHER, addr len 6, addr+pad, proto
    s, _ = mac_pair(seg)
    hdr = struct.pack(">HHH8sH", 4 if seg["c2s"] else 0, 1, 6,
                      bytes.fromhex(s.replace(":", "")) + b"\0\0", 0x0800)
    return hdr + raw(ippkt)


def w_null(seg, ippkt):
    # BSD loopback: 4-byte address family in the writer's (here: little-endian) byte order, AF_INET=2
    return struct.pack("<I", 2) + raw(ippkt)


def w_raw(seg, ippkt):
    return raw(ippkt)


# ----------------------------------------------------------------------------- file writers

def write_pcap(path, linktype, frames):
    """Classic little-endian pcap, microsecond timestamps. frames: list of (ts_us, bytes)."""
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype))
        for ts, b in frames:
            f.write(struct.pack("<IIII", ts // 1000000, ts % 1000000, len(b), len(b)))
            f.write(b)


def _opt(code, val):
    pad = (-len(val)) % 4
    return struct.pack("<HH", code, len(val)) + val + b"\0" * pad


def _block(btype, body):
    total = 12 + len(body)
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


def write_pcapng(path, linktype, frames, ifname=b"synth0"):
    """pcapng: SHB, one IDB (if_tsresol 6 = microseconds), one EPB per frame."""
    shb = struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1) + _opt(4, b"smtpsift gen_synthetic.py") + _opt(0, b"")
    idb = struct.pack("<HHI", linktype, 0, 262144) + _opt(2, ifname) + _opt(9, b"\x06") + _opt(0, b"")
    with open(path, "wb") as f:
        f.write(_block(0x0A0D0D0A, shb))
        f.write(_block(1, idb))
        for ts, b in frames:
            body = struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(b), len(b))
            body += b + b"\0" * ((-len(b)) % 4)
            f.write(_block(6, body))


# ----------------------------------------------------------------------------- variants

# name -> (tag, sport, v6, wrapper, linktype, options)
VARIANTS = [
    ("synth_qinq_ipv6.pcap", "qinq-ipv6", 41001, True, w_qinq, 1, {}),
    ("synth_vlan.pcap", "vlan", 41002, False, w_vlan, 1, {}),
    ("synth_mpls.pcap", "mpls", 41003, False, w_mpls, 1, {}),
    ("synth_sll.pcap", "sll", 41004, False, w_sll, 113, {}),
    ("synth_null.pcap", "null", 41005, False, w_null, 0, {}),
    ("synth_raw.pcap", "raw", 41006, False, w_raw, 101, {}),
    ("synth_fragments.pcap", "fragments", 41007, False, w_ether, 1, {"fragment": True}),
    ("synth_badcsum.pcap", "badcsum", 41008, False, w_ether, 1, {"bad_csum": True}),
    ("synth_pcapng.pcapng", "pcapng", 41009, False, w_ether, 1, {"pcapng": True}),
]


def render(index, tag, sport, v6, wrap, opts):
    ids = Ids()
    frames = []
    ts = (BASE_TS + 60 * index) * 1000000
    msg_seg = None
    for seg in session(tag):
        frag = opts.get("fragment") and seg["c2s"] and seg["data"].endswith(b"\r\n.\r\n")
        pkt = ip_packet(seg, v6, ids, sport=sport, bad_csum=opts.get("bad_csum", False), df=not frag)
        pieces = [pkt]
        if frag:                                   # the message segment -> IPv4 fragments
            pieces = fragment_v4(pkt, 200)
            msg_seg = len(pieces)
        for p in pieces:
            frames.append((ts, wrap(seg, p)))
            ts += STEP_US
    return frames, msg_seg


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    for i, (name, tag, sport, v6, wrap, lt, opts) in enumerate(VARIANTS):
        frames, nfrag = render(i, tag, sport, v6, wrap, opts)
        path = os.path.join(out, name)
        if opts.get("pcapng"):
            write_pcapng(path, lt, frames)
        else:
            write_pcap(path, lt, frames)
        print("%-24s linktype %3d  %2d frames%s  message %d bytes" % (
            name, lt, len(frames), ("  (DATA segment in %d fragments)" % nfrag) if nfrag else "",
            len(message(tag))))


if __name__ == "__main__":
    main()
