"""pcaplib.py - the Ethernet/IPv4/TCP frame builder shared by the project's capture
generators (samples/gen_detect.py, tests/cli/make_sessions.py, tests/safety/safecap.py,
tests/report/make_hostile.py). Standard library only; checksums are valid."""
import struct

SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def csum(data):
    """Internet checksum (RFC 1071) of data."""
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def ip(a):
    """Dotted IPv4 text to 4 bytes."""
    return bytes(int(x) for x in a.split("."))


def frame(src, dst, sport, dport, seq, ack, flags, payload):
    """One Ethernet frame carrying an IPv4/TCP segment with valid checksums."""
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF,
                      5 << 4, flags, 65535, 0, 0) + payload
    pseudo = ip(src) + ip(dst) + struct.pack("!BBH", 0, 6, len(tcp))
    tcp = tcp[:16] + struct.pack("!H", csum(pseudo + tcp)) + tcp[18:]
    iph = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, ip(src), ip(dst))
    iph = iph[:10] + struct.pack("!H", csum(iph)) + iph[12:]
    return b"\x02\0\0\0\0\x02\x02\0\0\0\0\x01\x08\x00" + iph + tcp
