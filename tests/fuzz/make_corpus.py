#!/usr/bin/env python3
"""make_corpus.py — (re)builds the seed corpora in tests/fuzz/corpus/<target>/ from
the SMTP transcript fixtures, the .eml fixtures and the sample captures. Run from
anywhere; it only writes under tests/fuzz/corpus/. Small files, a few dozen each."""
import glob, os, re, shutil, struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, '..', '..'))
OUT = os.path.join(HERE, 'corpus')
DLTS = [1, 113, 276, 0, 108, 12, 14, 101, 228, 229, 147]   # same order as fuzz_wire.c


def unescape(t):
    out = bytearray(); i = 0; b = t.encode('latin-1', 'replace')
    while i < len(b):
        if b[i:i+1] == b'\\' and i + 1 < len(b):
            c = chr(b[i+1])
            if c == 'r': out += b'\r'; i += 2; continue
            if c == 'n': out += b'\n'; i += 2; continue
            if c == 't': out += b'\t'; i += 2; continue
            if c == '\\': out += b'\\'; i += 2; continue
            if c == 'x': out.append(int(b[i+2:i+4], 16)); i += 4; continue
        out.append(b[i]); i += 1
    return bytes(out)


def smtp_records(path):
    recs = []
    for line in open(path, encoding='latin-1'):
        line = line.rstrip('\n')
        m = re.match(r'^([CScs]):( ?)(.*)$', line)
        if not m: continue
        k, text = m.group(1), m.group(3)
        data = unescape(text) + (b'\r\n' if k in 'CS' else b'')
        recs.append((0 if k in 'Cc' else 1, data))
    return recs


def frame(recs, split):
    """[h][n][bytes] records; split > 0 cuts every chunk into pieces of that size."""
    out = bytearray([0])          # default limits
    for d, data in recs:
        step = split or 255
        for i in range(0, max(len(data), 1), step):
            piece = data[i:i+step][:255]
            out += bytes([d, len(piece)]) + piece
    return bytes(out)


def reset(name):
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    return d


def pcap_frames(path):
    b = open(path, 'rb').read()
    if len(b) < 24: return None, []
    magic = b[:4]
    if magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1'): e = '<'
    elif magic in (b'\xa1\xb2\xc3\xd4', b'\xa1\xb2\x3c\x4d'): e = '>'
    else: return None, []
    dlt = struct.unpack(e + 'I', b[20:24])[0] & 0x0fffffff
    frames = []; off = 24
    while off + 16 <= len(b):
        _, _, incl, _ = struct.unpack(e + 'IIII', b[off:off+16])
        frames.append(b[off+16:off+16+incl]); off += 16 + incl
    return dlt, frames


def main():
    d = reset('fuzz_smtp')
    for p in sorted(glob.glob(os.path.join(ROOT, 'tests/fixtures/smtp/*.txt'))):
        recs = smtp_records(p)
        name = os.path.basename(p)[:-4]
        open(os.path.join(d, name), 'wb').write(frame(recs, 0))
    # a few with odd splits and with tiny limits
    for name, split in (('plain', 1), ('pipelined', 3), ('bdat', 7)):
        p = os.path.join(ROOT, 'tests/fixtures/smtp', name + '.txt')
        if os.path.exists(p):
            open(os.path.join(d, name + '_split%d' % split), 'wb').write(frame(smtp_records(p), split))
    p = os.path.join(ROOT, 'tests/fixtures/smtp/multi_txn.txt')
    if os.path.exists(p):
        open(os.path.join(d, 'multi_txn_tiny_limits'), 'wb').write(b'\x01' + frame(smtp_records(p), 0)[1:])

    d = reset('fuzz_mime')
    for p in sorted(glob.glob(os.path.join(ROOT, 'tests/fixtures/eml/*.eml')) +
                    glob.glob(os.path.join(ROOT, 'samples/src/*.eml'))):
        b = open(p, 'rb').read()
        if len(b) <= 16384:
            shutil.copy(p, os.path.join(d, os.path.basename(p)))

    d = reset('fuzz_wire')
    n = 0
    for p in sorted(glob.glob(os.path.join(ROOT, 'samples/*.pcap'))):
        dlt, frames = pcap_frames(p)
        if dlt is None or dlt not in DLTS: continue
        base = os.path.basename(p)[:-5]
        # the SYN, the first data frames and a mid-stream one
        for i in sorted(set(k for k in (0, 3, 5, len(frames) // 2) if k < len(frames))):
            open(os.path.join(d, '%s_%d' % (base, i)), 'wb').write(bytes([DLTS.index(dlt)]) + frames[i])
            n += 1

    d = reset('fuzz_pipeline')
    for p in sorted(glob.glob(os.path.join(ROOT, 'samples/*.pcap*'))):
        if os.path.getsize(p) <= 8192:
            shutil.copy(p, os.path.join(d, os.path.basename(p)))
    for dd in sorted(os.listdir(OUT)):
        print(dd, len(os.listdir(os.path.join(OUT, dd))))


if __name__ == '__main__':
    main()
