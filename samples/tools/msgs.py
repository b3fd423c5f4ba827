#!/usr/bin/python3
# Prints size/SHA-256 of each un-stuffed DATA message in a capture and compares with .eml files.
# usage: msgs.py CAPTURE [EML...]
import sys, hashlib
import os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from streams import streams
def messages(c2s):
    """Split client stream into commands and unstuffed DATA contents (assumes every DATA got 354)."""
    out=[]; cmds=[]; i=0; lines=c2s.split(b'\r\n')
    assert lines[-1]==b''; lines=lines[:-1]
    inside=False; cur=[]
    for l in lines:
        if inside:
            if l == b'.':
                out.append(b''.join(x+b'\r\n' for x in cur)); inside=False; cur=[]
            else:
                cur.append(l[1:] if l.startswith(b'.') else l)
        else:
            cmds.append(l.decode())
            if l.upper()==b'DATA': inside=True
    return cmds, out
if __name__=='__main__':
    for cl,sv,c2s,s2c,fin,rst in streams(sys.argv[1]):
        cmds, msgs = messages(c2s)
        for m in msgs:
            print('  msg size=%d sha256=%s' % (len(m), hashlib.sha256(m).hexdigest()))
            for eml in sys.argv[2:]:
                e=open(eml,'rb').read()
                print('    vs %s: %s' % (eml, 'EQUAL' if e==m else ('EQUAL+CRLF' if e+b'\r\n'==m else 'DIFF')))
