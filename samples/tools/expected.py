#!/usr/bin/python3
# Ground-truth helper for samples/EXPECTED.md: prints the per-capture detail sections.
# usage: expected.py CAPTURE...   (needs tshark for the checksum/fragment counts)
import sys, hashlib, email, email.policy, struct, subprocess
import os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from streams import streams, packets
from email.header import decode_header, make_header
LT = {1:'EN10MB (1, Ethernet)',0:'NULL (0, BSD loopback)',101:'RAW (101)',113:'LINUX_SLL (113)',276:'LINUX_SLL2 (276)'}
def replies(s2c):
    out=[]; cur=[]
    for l in s2c.decode().split('\r\n')[:-1]:
        cur.append(l)
        if len(l)==3 or l[3]==' ':
            out.append(cur); cur=[]
    assert not cur
    return out
def analyse(path):
    pk=list(packets(path)); lt=pk[0][0]
    print('## `%s`\n' % path.split('/')[-1])
    fmt = 'pcapng' if open(path,'rb').read(4)==b'\x0a\x0d\x0d\x0a' else 'pcap'
    print('- file: %s, link type %s, %d frames' % (fmt, LT[lt], len(pk)))
    bad = subprocess.run(['tshark','-r',path,'-o','tcp.check_checksum:TRUE','-Y','tcp.checksum.status==0'],capture_output=True,text=True).stdout.count('\n')
    badip = subprocess.run(['tshark','-r',path,'-o','ip.check_checksum:TRUE','-Y','ip.checksum.status==0'],capture_output=True,text=True).stdout.count('\n')
    print('- TCP checksums wrong (tshark with tcp.check_checksum on): %d of %d frames; IPv4 header checksums wrong: %d' % (bad, len(pk), badip))
    fr = subprocess.run(['tshark','-r',path,'-Y','ip.flags.mf==1 || ip.frag_offset>0'],capture_output=True,text=True).stdout.count('\n')
    if fr: print('- IPv4 fragments: %d frames carry fragments of one datagram' % fr)
    ss = streams(path)
    print('- SMTP sessions: %d' % len(ss))
    for si,(cl,sv,c2s,s2c,fin,rst) in enumerate(ss,1):
        print('- session %d: client `%s` port %d -> server `%s` port %d; client bytes %d, server bytes %d; closed by FIN both ways: %s; RST: %s' % (si, cl[0],cl[1],sv[0],sv[1],len(c2s),len(s2c), len(fin)==2, rst))
        reps = replies(s2c)
        lines = c2s.split(b'\r\n')[:-1]
        q = list(reps)
        g = q.pop(0)
        print('  - greeting: `%s`' % ' / '.join(g))
        txns=[]; cur=None; inside=False; content=[]
        for l in lines:
            if inside:
                if l == b'.':
                    msg=b''.join(x+b'\r\n' for x in content); content=[]; inside=False
                    r=q.pop(0); cur['data']=r; cur['msg']=msg
                    print('  - C: `<message, %d bytes un-stuffed>` `.` -> S: `%s`' % (len(msg), r[-1]))
                else: content.append(l[1:] if l.startswith(b'.') else l)
                continue
            cmd=l.decode(); r=q.pop(0)
            verb=cmd.split(' ')[0].upper()
            code=r[-1][:3]
            print('  - C: `%s` -> S: `%s`' % (cmd, r[-1] if len(r)==1 else '%s (%d-line reply, last line)' % (r[-1], len(r))))
            if verb=='EHLO': print('    - EHLO keywords: %s' % ', '.join(x[4:] for x in r[1:]))
            if verb=='MAIL': cur={'mail':cmd,'mailrep':r[-1],'rcpts':[]}; txns.append(cur)
            if verb=='RCPT': cur['rcpts'].append((cmd, r[-1]))
            if verb=='RSET': cur=None
            if verb=='DATA':
                cur['354']=r[-1]
                if code=='354': inside=True
        assert not q, q
        for ti,t in enumerate(txns,1):
            print('  - **transaction %d**' % ti)
            print('    - MAIL: `%s` -> `%s`' % (t['mail'], t['mailrep']))
            for c,r in t['rcpts']:
                print('    - RCPT: `%s` -> **%s** `%s`' % (c, r[:3], r))
            acc=[c.split('<')[1].split('>')[0] for c,r in t['rcpts'] if r[0]=='2']
            rej=[c.split('<')[1].split('>')[0] for c,r in t['rcpts'] if r[0] in '45']
            print('    - accepted recipients: %s; rejected: %s' % (', '.join(acc) or '-', ', '.join(rej) or '-'))
            print('    - DATA -> `%s`; after final dot -> **%s** `%s`' % (t['354'], t['data'][-1][:3], t['data'][-1]))
            qid = t['data'][-1].split('queued as ')[1] if 'queued as' in t['data'][-1] else None
            print('    - disposition: %s; queue id: %s' % ('accepted' if t['data'][-1][0]=='2' else 'rejected after DATA', '`%s`'%qid if qid else '-'))
            m=t['msg']
            print('    - message: **%d bytes** after un-stuffing (from first header byte through the CRLF before the terminating dot), SHA-256 `%s`' % (len(m), hashlib.sha256(m).hexdigest()))
            stuffed = sum(1 for x in m.split(b'\r\n') if x.startswith(b'.'))
            if stuffed: print('    - lines starting with "." in the message (dot-stuffed on the wire): %d' % stuffed)
            em = email.message_from_bytes(m, policy=email.policy.default)
            print('    - Subject (decoded): `%s`' % str(em['Subject']))
            if '=?' in m.split(b'\r\n\r\n')[0].decode(): 
                for h in ('Subject','From'):
                    raw=[l for l in m.decode().split('\r\n') if l.startswith(h+':')][0]
                    print('    - raw %s header: `%s`' % (h, raw))
            print('    - From (decoded): `%s`' % str(em['From']))
            print('    - To: `%s`' % str(em['To']))
            print('    - Message-ID: `%s`' % em['Message-ID'])
            print('    - Date: `%s`' % em['Date'])
            print('    - Content-Type: `%s`' % em.get_content_type())
            for part in em.iter_attachments():
                d = part.get_payload(decode=True)
                print('    - attachment: filename `%s`, type `%s`, decoded size %d, SHA-256 `%s`' % (part.get_filename(), part.get_content_type(), len(d), hashlib.sha256(d).hexdigest()))
            if em.is_multipart():
                for part in em.walk():
                    if part.get_content_maintype()!='multipart' and not part.get_filename():
                        b=part.get_content()
                        print('    - text part `%s` (%s, CTE %s), decoded text %d chars: `%s`' % (part.get_content_type(), part.get_content_charset(), part['Content-Transfer-Encoding'], len(b), b.replace('\n','\\n')))
    print()
if __name__ == "__main__":
    for p in sys.argv[1:]: analyse(p)
