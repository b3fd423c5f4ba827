#!/usr/bin/python3
# Ground-truth helper: writes EXPECTED.tsv rows (one per recipient) to stdout.  usage: tsv.py CAPTURE...
import sys, hashlib, email, email.policy
import os; sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from streams import streams
from expected import replies
print('\t'.join(['capture','session','client','server','txn','mail_from','rcpt','rcpt_code','data_code','disposition','queue_id','message_bytes','message_sha256','subject','from','message_id']))
for path in sys.argv[1:]:
    for si,(cl,sv,c2s,s2c,fin,rst) in enumerate(streams(path),1):
        q=replies(s2c); q.pop(0); txns=[]; cur=None; inside=False; content=[]
        for l in c2s.split(b'\r\n')[:-1]:
            if inside:
                if l==b'.':
                    cur['msg']=b''.join(x+b'\r\n' for x in content); content=[]; inside=False; cur['data']=q.pop(0)[-1]
                else: content.append(l[1:] if l.startswith(b'.') else l)
                continue
            cmd=l.decode(); r=q.pop(0)[-1]; v=cmd.split(' ')[0].upper()
            if v=='MAIL': cur={'mail':cmd.split('<')[1].split('>')[0],'rcpts':[]}; txns.append(cur)
            if v=='RCPT': cur['rcpts'].append((cmd.split('<')[1].split('>')[0], r[:3]))
            if v=='DATA' and r[:3]=='354': inside=True
        for ti,t in enumerate(txns,1):
            m=t['msg']; em=email.message_from_bytes(m, policy=email.policy.default)
            qid=t['data'].split('queued as ')[1] if 'queued as' in t['data'] else ''
            for rc,code in t['rcpts']:
                print('\t'.join(map(str,[path.split('/')[-1],si,('[%s]:%d' if ':' in cl[0] else '%s:%d')%cl,('[%s]:%d' if ':' in sv[0] else '%s:%d')%sv,ti,t['mail'],rc,code,t['data'][:3],'accepted' if t['data'][0]=='2' else 'rejected',qid,len(m),hashlib.sha256(m).hexdigest(),str(em['Subject']),str(em['From']),em['Message-ID']])))
