"""pcaplib.py - the Ethernet/IPv4/TCP frame builder shared by the project's capture
generators (samples/gen_detect.py, tests/cli/make_sessions.py, tests/safety/safecap.py,
tests/report/make_hostile.py). Standard library only; checksums are valid."""
import struct

SYN, ACK, PSH, FIN = 0x02, 0x10, 0x08, 0x01


def csum(data):
    """Internet checksum (RFC 1071) of data. The one's complement sum of the 16-bit
    words is the whole number modulo 0xFFFF (65536 = 1 mod 65535), so one big-integer
    operation replaces the loop; a sum of 0 is 0xFFFF unless every word is 0."""
    if len(data) % 2:
        data += b"\0"
    s = int.from_bytes(data, "big") % 0xFFFF
    if s == 0 and any(data):
        s = 0xFFFF
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
