#!/usr/bin/python3
# Minimal independent pcap/pcapng reader + TCP reassembler (by seq), for checking sample captures.
import struct, sys, collections
def packets(path):
    data = open(path,'rb').read()
    magic = data[:4]
    if magic == b'\x0a\x0d\x0d\x0a':
        off=0; lts={}; idx=0
        while off < len(data):
            bt, bl = struct.unpack_from('<II', data, off)
            body = data[off+8:off+bl-4]
            if bt == 1:
                lts[idx] = struct.unpack_from('<H', body, 0)[0]; idx+=1
            elif bt == 6:
                iface, th, tl, cl, ol = struct.unpack_from('<IIIII', body, 0)
                yield lts[iface], ((th<<32)|tl), body[20:20+cl], ol
            off += bl
        return
    le = magic in (b'\xd4\xc3\xb2\xa1', b'\x4d\x3c\xb2\xa1')
    e = '<' if le else '>'
    lt = struct.unpack_from(e+'I', data, 20)[0]
    off = 24
    while off < len(data):
        ts, tu, cl, ol = struct.unpack_from(e+'IIII', data, off)
        yield lt, ts*1000000+tu, data[off+16:off+16+cl], ol
        off += 16+cl
def l3(lt, f):
    if lt == 1:
        et = struct.unpack_from('>H', f, 12)[0]; o = 14
        while et in (0x8100, 0x88a8):
            et = struct.unpack_from('>H', f, o+2)[0]; o += 4
        if et == 0x8847:
            while True:
                lab = struct.unpack_from('>I', f, o)[0]; o += 4
                if lab & 0x100: break
            et = 0x0800 if f[o]>>4 == 4 else 0x86dd
        return et, f[o:]
    if lt == 113: return struct.unpack_from('>H', f, 14)[0], f[16:]
    if lt == 276: return struct.unpack_from('>H', f, 0)[0], f[20:]
    if lt == 0:
        af = struct.unpack_from('<I', f, 0)[0]
        return (0x0800 if af == 2 else 0x86dd), f[4:]
    if lt == 101: return (0x0800 if f[0]>>4 == 4 else 0x86dd), f
    raise ValueError(lt)
def tcp_segments(path):
    frags = collections.defaultdict(dict)
    for lt, ts, f, ol in packets(path):
        et, p = l3(lt, f)
        if et == 0x0800:
            ihl = (p[0]&15)*4; tot = struct.unpack_from('>H',p,2)[0]
            ident, fo = struct.unpack_from('>HH', p, 4)
            src = '.'.join(map(str,p[12:16])); dst='.'.join(map(str,p[16:20]))
            pay = p[ihl:tot]
            if fo & 0x3fff:
                key=(src,dst,ident); frags[key][(fo&0x1fff)*8]=(pay, bool(fo&0x2000))
                fr = frags[key]; offs=sorted(fr); buf=b''; done=False
                for o in offs:
                    if o != len(buf): break
                    buf += fr[o][0]
                    if not fr[o][1]: done=True
                if not done: continue
                pay = buf; del frags[key]
            if p[9] != 6: continue
        elif et == 0x86dd:
            import ipaddress
            src = str(ipaddress.IPv6Address(p[8:24])); dst=str(ipaddress.IPv6Address(p[24:40]))
            plen = struct.unpack_from('>H',p,4)[0]
            if p[6] != 6: continue
            pay = p[40:40+plen]
        else: continue
        sp, dp, seq, ack, offf = struct.unpack_from('>HHIIB', pay, 0)
        flags = pay[13]
        yield ts, (src, sp), (dst, dp), seq, flags, pay[(offf>>4)*4:]
def streams(path):
    conns = collections.OrderedDict()
    for ts, a, b, seq, flags, data in tcp_segments(path):
        if flags & 0x02 and not flags & 0x10:   # SYN
            conns[(a,b)] = {'client':a,'server':b,'isn':{a:seq}, 'data':{a:{}, b:{}}, 'fin':set(), 'rst':False}
            continue
        key = (a,b) if (a,b) in conns else (b,a)
        c = conns[key]
        if flags & 0x02: c['isn'][a] = seq; continue
        if flags & 0x04: c['rst']=True
        if flags & 0x01: c['fin'].add(a)
        if data:
            c['data'][a][(seq - c['isn'][a] - 1) & 0xffffffff] = data
    out=[]
    for c in conns.values():
        res={}
        for side in (c['client'], c['server']):
            buf=b''
            for o in sorted(c['data'][side]):
                d = c['data'][side][o]
                if o > len(buf): raise SystemExit('gap in %s at %d'%(side,o))
                buf += d[len(buf)-o:]
            res[side]=buf
        out.append((c['client'], c['server'], res[c['client']], res[c['server']], c['fin'], c['rst']))
    return out
if __name__ == '__main__':
    for cl, sv, c2s, s2c, fin, rst in streams(sys.argv[1]):
        print('CONN %s:%d -> %s:%d  c2s=%d s2c=%d fin_from=%s rst=%s' % (cl[0],cl[1],sv[0],sv[1],len(c2s),len(s2c),sorted(fin),rst))
        if len(sys.argv) > 2:
            print('--- C2S'); print(c2s.decode('latin-1'))
            print('--- S2C'); print(s2c.decode('latin-1'))
