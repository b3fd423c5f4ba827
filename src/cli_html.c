/* cli_html.c — `smtpsift report --html FILE`: one self-contained HTML file
 * (inline CSS, JS and SVG; no network, no external fonts) with overview
 * counts, a timeline, a sender-domain → recipient-domain graph, top talkers,
 * findings, attachments and every message linked to its details. Data is
 * embedded as JSON (built by SQLite's JSON functions, '<' '>' '&' escaped) and
 * rendered by the page's script with textContent only, 100 rows a page with a
 * search box, so it stays usable at 100,000 messages. It writes no database. */
#include "cli_multi.h"
#include "sift.h"
#include "store.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DETAILS_DEFAULT 5000     /* messages whose headers/parts/commands are embedded */
#define ROWS_MAX        500000   /* message rows embedded at most */
#define ROWS_MAX_STR    "500000"

/* One embedded data block: the rows of sql (one JSON value each) become the
 * JSON array in <script type="application/json" id="d-NAME">. */
struct block {
    const char *name;
    const char *sql;
};

static const char *const overview_sql =
    "SELECT json_object("
    " 'captures', (SELECT count(*) FROM captures),"
    " 'sessions', (SELECT count(*) FROM sessions),"
    " 'tls_sessions', (SELECT count(*) FROM sessions WHERE tls),"
    " 'transactions', (SELECT count(*) FROM messages),"
    " 'messages', (SELECT count(*) FROM messages WHERE has_content),"
    " 'rejected', (SELECT count(*) FROM messages WHERE disposition = 'rejected'),"
    " 'recipients', (SELECT count(*) FROM recipients),"
    " 'rejected_recipients', (SELECT count(*) FROM recipients WHERE NOT accepted),"
    " 'senders', (SELECT count(DISTINCT mail_from) FROM messages),"
    " 'clients', (SELECT count(DISTINCT client_ip) FROM sessions),"
    " 'attachments', (SELECT count(*) FROM parts WHERE is_attachment),"
    " 'findings', (SELECT count(*) FROM findings),"
    " 'high_findings', (SELECT count(*) FROM findings WHERE severity = 'high'),"
    " 'first', (SELECT min(start_ts) FROM sessions),"
    " 'last', (SELECT max(COALESCE(end_ts, start_ts)) FROM sessions),"
    " 'capture_files', (SELECT json_group_array(path) FROM (SELECT path FROM captures ORDER BY id LIMIT 50)))";

/* Buckets of a "nice" width giving at most 60 bars over the messages' span. */
static const char *const timeline_sql =
    "WITH r AS (SELECT min(start_ts) AS lo, max(start_ts) AS hi FROM messages WHERE start_ts IS NOT NULL),"
    " b AS (SELECT lo, COALESCE((SELECT min(column1) FROM (VALUES (1),(2),(5),(10),(15),(30),(60),(120),"
    "   (300),(600),(900),(1800),(3600),(7200),(10800),(21600),(43200),(86400),(172800),(604800),"
    "   (1209600),(2592000),(7776000),(31536000)) WHERE column1 >= (r.hi - r.lo) / 60.0), 315360000) AS w"
    "   FROM r WHERE lo IS NOT NULL),"
    " c AS (SELECT CAST((m.start_ts - CAST(b.lo / b.w AS INTEGER) * b.w) / b.w AS INTEGER) AS i,"
    "   count(*) AS n, sum(m.disposition <> 'accepted') AS bad FROM messages m, b"
    "   WHERE m.start_ts IS NOT NULL GROUP BY i)"
    " SELECT json_object('width', b.w, 'start', CAST(b.lo / b.w AS INTEGER) * b.w,"
    "   'buckets', (SELECT json_group_array(json_array(i, n, bad)) FROM c)) FROM b";

#define DOMAIN_OF(x) "lower(substr(" x ", instr(" x ", '@') + 1))"

static const char *const graph_sql =
    "SELECT json_array(sd, rd, n) FROM (SELECT CASE WHEN m.mail_from = '' THEN '<>' ELSE "
    DOMAIN_OF("m.mail_from") " END AS sd, " DOMAIN_OF("r.address") " AS rd, count(*) AS n"
    " FROM messages m JOIN recipients r ON r.message_id = m.id WHERE r.accepted AND m.mail_from IS NOT NULL"
    " GROUP BY sd, rd ORDER BY n DESC, sd, rd LIMIT 40)";

static const char *const top_sql =
    "SELECT json_object("
    " 'senders', (SELECT json_group_array(json_array(k, n)) FROM (SELECT CASE WHEN mail_from = '' THEN '<>'"
    "   ELSE mail_from END AS k, count(*) AS n FROM messages WHERE mail_from IS NOT NULL"
    "   GROUP BY k ORDER BY n DESC, k LIMIT 20)),"
    " 'header_from', (SELECT json_group_array(json_array(k, n)) FROM (SELECT from_addr AS k, count(*) AS n"
    "   FROM messages WHERE from_addr IS NOT NULL GROUP BY k ORDER BY n DESC, k LIMIT 20)),"
    " 'recipients', (SELECT json_group_array(json_array(k, n)) FROM (SELECT address AS k, count(*) AS n"
    "   FROM recipients GROUP BY k ORDER BY n DESC, k LIMIT 20)),"
    " 'clients', (SELECT json_group_array(json_array(k, n)) FROM (SELECT client_ip AS k, count(*) AS n"
    "   FROM sessions GROUP BY k ORDER BY n DESC, k LIMIT 20)),"
    " 'servers', (SELECT json_group_array(json_array(k, n)) FROM (SELECT server_ip || ' port ' || server_port"
    "   AS k, count(*) AS n FROM sessions GROUP BY k ORDER BY n DESC, k LIMIT 20)),"
    " 'helos', (SELECT json_group_array(json_array(k, n)) FROM (SELECT helo AS k, count(*) AS n"
    "   FROM sessions WHERE helo IS NOT NULL GROUP BY k ORDER BY n DESC, k LIMIT 20)),"
    " 'rules', (SELECT json_group_array(json_array(k, n)) FROM (SELECT severity || ' ' || rule AS k,"
    "   count(*) AS n FROM findings GROUP BY k ORDER BY n DESC, k LIMIT 30)))";

static const char *const messages_sql =
    "SELECT json_array(m.id, m.start_ts, s.client_ip, s.server_ip || ':' || s.server_port, m.mail_from,"
    " m.from_addr, (SELECT group_concat(address, ', ') FROM recipients r WHERE r.message_id = m.id),"
    " m.subject, m.disposition, m.n_attachments, m.size,"
    " (SELECT count(*) FROM findings f WHERE f.message_id = m.id), m.session_id, m.queue_id)"
    " FROM messages m JOIN sessions s ON s.id = m.session_id ORDER BY m.start_ts, m.id LIMIT " ROWS_MAX_STR;

/* %d: how many messages get their details embedded. */
static const char *const details_fmt =
    "SELECT json_object('id', m.id, 'uid', s.uid, 'message_id', m.message_id, 'queue_id', m.queue_id,"
    " 'mail_from', m.mail_from, 'mail_params', m.mail_params, 'sha256', m.sha256, 'size', m.size,"
    " 'data_reply', m.data_reply_code || ' ' || m.data_reply_text, 'client', s.client_ip || ':' || s.client_port,"
    " 'server', s.server_ip || ':' || s.server_port, 'helo', s.helo, 'banner', s.banner, 'tls', s.tls,"
    " 'capture', m.capture_id, 'packets', m.first_packet || '-' || m.last_packet,"
    " 'rcpt', json((SELECT json_group_array(json_array(address, reply_code, reply_text, accepted)) FROM"
    "   (SELECT * FROM recipients r WHERE r.message_id = m.id ORDER BY r.seq LIMIT 500))),"
    " 'headers', json((SELECT json_group_array(json_array(name, substr(value, 1, 2000))) FROM"
    "   (SELECT * FROM headers h WHERE h.message_id = m.id ORDER BY h.seq LIMIT 300))),"
    " 'parts', json((SELECT json_group_array(json_array(path, content_type, filename, size, sha256, is_attachment))"
    "   FROM (SELECT * FROM parts p WHERE p.message_id = m.id ORDER BY p.seq LIMIT 200))),"
    " 'commands', json((SELECT json_group_array(json_array(seq, verb, substr(args, 1, 500), reply_code,"
    "   substr(reply_text, 1, 500), txn)) FROM (SELECT * FROM commands c WHERE c.session_id = m.session_id"
    "   ORDER BY c.seq LIMIT 300))),"
    " 'findings', json((SELECT json_group_array(json_array(severity, rule, detail)) FROM"
    "   (SELECT * FROM findings f WHERE f.message_id = m.id OR (f.session_id = m.session_id AND f.message_id IS NULL)"
    "   ORDER BY f.id LIMIT 100))))"
    " FROM messages m JOIN sessions s ON s.id = m.session_id ORDER BY m.start_ts, m.id LIMIT %d";

static const char *const findings_sql =
    "SELECT json_array(f.id, f.severity, f.rule, f.detail, f.session_id, f.message_id, f.ts, f.packet,"
    " f.capture_id) FROM findings f ORDER BY CASE f.severity WHEN 'high' THEN 0 WHEN 'medium' THEN 1"
    " WHEN 'low' THEN 2 ELSE 3 END, f.id LIMIT 50000";

static const char *const attachments_sql =
    "SELECT json_array(p.message_id, p.filename, p.content_type, p.size, p.sha256, m.subject, m.mail_from)"
    " FROM parts p JOIN messages m ON m.id = p.message_id WHERE p.is_attachment"
    " ORDER BY m.start_ts, p.message_id, p.seq LIMIT 100000";

/* ---------- writing ---------- */

struct w {
    FILE *fp;
    size_t rows;
};

/* JSON text is written with '<', '>' and '&' as \u escapes: they only occur
 * inside strings, and so "</script>" or "<!--" can never end the block. */
static void put_json(FILE *fp, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("\\u003c", fp); break;
        case '>': fputs("\\u003e", fp); break;
        case '&': fputs("\\u0026", fp); break;
        default: fputc(*s, fp);
        }
    }
}

static int block_row(void *user, int ncols, const char *const *names, const char *const *vals,
                     const char *types)
{
    (void)names;
    (void)types;
    struct w *w = user;
    if (!vals || ncols < 1 || !vals[0]) return 0;
    if (w->rows++) fputs(",\n", w->fp);
    put_json(w->fp, vals[0]);
    return 0;
}

static enum sift_status write_block(FILE *fp, struct sift_store *st, const char *name, const char *sql,
                                    char *err, size_t errlen)
{
    struct w w = { fp, 0 };
    fprintf(fp, "<script type=\"application/json\" id=\"d-%s\">[", name);
    enum sift_status rc = sift_store_query(st, sql, block_row, &w, err, errlen);
    fputs("]</script>\n", fp);
    return rc;
}

static void put_text(FILE *fp, const char *s)   /* HTML text content */
{
    for (; *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", fp); break;
        case '>': fputs("&gt;", fp); break;
        case '&': fputs("&amp;", fp); break;
        case '"': fputs("&quot;", fp); break;
        default: fputc(*s, fp);
        }
    }
}

static const char *const page_css =
    "body{font:14px/1.4 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2430;background:#f5f6f8}"
    "header{background:#1d2430;color:#fff;padding:12px 24px}header h1{margin:0;font-size:20px}"
    "header .sub{color:#aab3c2;font-size:12px}nav{padding:6px 24px;background:#e6e9ef;position:sticky;top:0;z-index:2}"
    "nav a{margin-right:14px;color:#23406e;text-decoration:none;font-weight:600}"
    "main{padding:12px 24px}section{background:#fff;border:1px solid #dde1e8;border-radius:6px;margin:0 0 16px;padding:12px 16px}"
    "h2{font-size:16px;margin:0 0 8px}h3{font-size:14px;margin:12px 0 6px}"
    ".cards{display:flex;flex-wrap:wrap;gap:10px}.card{border:1px solid #dde1e8;border-radius:6px;padding:8px 14px;min-width:110px}"
    ".card .n{font-size:22px;font-weight:700}.card .l{color:#5b6575;font-size:12px}"
    "table{border-collapse:collapse;width:100%;font-size:13px}th,td{text-align:left;padding:3px 6px;border-bottom:1px solid #eceff3;vertical-align:top}"
    "th{background:#f0f2f6;position:sticky;top:34px}td{overflow-wrap:anywhere;max-width:420px}"
    "td.num{text-align:right;white-space:nowrap}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;font-size:12px}"
    ".pager{margin:6px 0;display:flex;gap:8px;align-items:center}.pager input{flex:0 1 320px;padding:3px 6px}"
    ".sev-high{color:#b00020;font-weight:700}.sev-medium{color:#b35c00;font-weight:600}.sev-low{color:#6b6b00}.sev-info{color:#5b6575}"
    ".grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(300px,1fr));gap:12px}"
    ".bad{color:#b00020}.note{color:#5b6575;font-size:12px}svg text{font-size:11px;fill:#1d2430}"
    "#detail{border:2px solid #23406e}dl{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px;margin:0}"
    "dt{color:#5b6575}dd{margin:0;overflow-wrap:anywhere}";

/* The renderer. Every string from the data goes through textContent or
 * createTextNode; attribute values are built only from numbers. */
static const char *const page_js =
    "(function(){'use strict';\n"
    "function D(id){var e=document.getElementById('d-'+id);return e?JSON.parse(e.textContent):[];}\n"
    "function el(t,a,k){var e=document.createElement(t);if(a)for(var x in a){if(x==='text')e.textContent=a[x];"
    "else if(x==='cls')e.className=a[x];else e.setAttribute(x,a[x]);}"
    "(k||[]).forEach(function(c){if(c!=null)e.appendChild(typeof c==='object'?c:document.createTextNode(String(c)));});return e;}\n"
    "var NS='http://www.w3.org/2000/svg';function sv(t,a,txt){var e=document.createElementNS(NS,t);"
    "for(var x in a)e.setAttribute(x,a[x]);if(txt!=null)e.textContent=txt;return e;}\n"
    "function ts(t){if(t==null)return '';try{return new Date(t*1000).toISOString().replace('T',' ').replace(/\\.\\d+Z$/,'Z');}catch(e){return String(t);}}\n"
    "function num(n){return n==null?'':String(n).replace(/\\B(?=(\\d{3})+(?!\\d))/g,',');}\n"
    "function mlink(id,text){var a=el('a',{href:'#m'+Number(id)});a.textContent=text==null||text===''?'(message '+id+')':text;return a;}\n"
    "function sec(id,title){var s=el('section',{id:id},[el('h2',{text:title})]);document.getElementById('main').appendChild(s);return s;}\n"
    /* paged, searchable table: cols = [name, fn(row)->text|node, cls] */
    "function table(parent,cols,rows,size){size=size||100;var page=0,list=rows,low=null;\n"
    " var q=el('input',{type:'search',placeholder:'search these '+num(rows.length)+' rows','aria-label':'search'});\n"
    " var prev=el('button',{text:'\\u25c0 previous'}),next=el('button',{text:'next \\u25b6'}),info=el('span',{cls:'note'});\n"
    " var t=el('table'),hr=el('tr');cols.forEach(function(c){hr.appendChild(el('th',{text:c[0]}));});\n"
    " t.appendChild(el('thead',null,[hr]));var tb=el('tbody');t.appendChild(tb);\n"
    " function key(r){var s='';for(var i=0;i<r.length;i++)if(r[i]!=null&&typeof r[i]!=='object')s+=String(r[i])+'\\u0001';return s.toLowerCase();}\n"
    " function draw(){while(tb.firstChild)tb.removeChild(tb.firstChild);var n=list.length,pages=Math.max(1,Math.ceil(n/size));\n"
    "  if(page>=pages)page=pages-1;var a=page*size,b=Math.min(n,a+size);\n"
    "  for(var i=a;i<b;i++){var r=list[i],tr=el('tr');cols.forEach(function(c){var v=c[1](r),td=el('td',c[2]?{cls:c[2]}:null);\n"
    "   if(v!=null&&typeof v==='object')td.appendChild(v);else td.textContent=v==null?'':String(v);tr.appendChild(td);});tb.appendChild(tr);}\n"
    "  info.textContent=n?('rows '+num(a+1)+'\\u2013'+num(b)+' of '+num(n)+(n<rows.length?' (filtered from '+num(rows.length)+')':'')+', page '+(page+1)+' of '+pages):'no rows';\n"
    "  prev.disabled=page<=0;next.disabled=page>=pages-1;}\n"
    " q.addEventListener('input',function(){var s=q.value.toLowerCase();if(!low)low=rows.map(key);\n"
    "  list=s?rows.filter(function(r,i){return low[i].indexOf(s)>=0;}):rows;page=0;draw();});\n"
    " prev.onclick=function(){page--;draw();};next.onclick=function(){page++;draw();};\n"
    " parent.appendChild(el('div',{cls:'pager'},[q,prev,next,info]));parent.appendChild(t);draw();}\n"
    "function toplist(parent,title,rows){var d=el('div',null,[el('h3',{text:title})]);\n"
    " var t=el('table');rows.forEach(function(r){t.appendChild(el('tr',null,[el('td',{text:r[0]==null?'':r[0]}),el('td',{cls:'num',text:num(r[1])})]));});\n"
    " if(!rows.length)d.appendChild(el('p',{cls:'note',text:'none'}));else d.appendChild(t);parent.appendChild(d);}\n"
    "var ov=D('overview')[0]||{},tl=D('timeline')[0],gr=D('graph'),top=D('top')[0]||{},msgs=D('messages'),\n"
    " fnd=D('findings'),att=D('attachments'),det={},meta=D('meta')[0]||{};\n"
    "D('details').forEach(function(d){det[d.id]=d;});\n"
    "var byId={};msgs.forEach(function(m){byId[m[0]]=m;});\n"
    /* overview */
    "var s=sec('overview','Overview'),cards=el('div',{cls:'cards'});\n"
    "[['messages','messages (with content)'],['transactions','mail transactions'],['sessions','SMTP sessions'],\n"
    " ['recipients','recipients'],['rejected_recipients','recipients refused'],['senders','envelope senders'],\n"
    " ['clients','client addresses'],['attachments','attachments'],['findings','findings'],['high_findings','high-severity findings'],\n"
    " ['tls_sessions','sessions with STARTTLS'],['captures','captures']].forEach(function(c){\n"
    " cards.appendChild(el('div',{cls:'card',id:'ov-'+c[0]},[el('div',{cls:'n',text:num(ov[c[0]]||0)}),el('div',{cls:'l',text:c[1]})]));});\n"
    "s.appendChild(cards);s.appendChild(el('p',{cls:'note',text:'From '+ts(ov.first)+' to '+ts(ov.last)+' (packet time, UTC). Captures: '+(ov.capture_files||[]).join(', ')}));\n"
    /* timeline */
    "s=sec('timeline','Timeline of messages');\n"
    "if(tl&&tl.buckets&&tl.buckets.length){var W=900,H=160,L=40,B=30,nb=0,mx=1,cnt={};tl.buckets.forEach(function(b){cnt[b[0]]=b;nb=Math.max(nb,b[0]+1);mx=Math.max(mx,b[1]);});\n"
    " var g=sv('svg',{viewBox:'0 0 '+W+' '+H,width:'100%',role:'img'}),bw=(W-L-10)/nb;\n"
    " g.appendChild(sv('line',{x1:L,y1:H-B,x2:W-10,y2:H-B,stroke:'#889'}));g.appendChild(sv('text',{x:2,y:14},num(mx)));g.appendChild(sv('text',{x:2,y:H-B},'0'));\n"
    " for(var i=0;i<nb;i++){var b=cnt[i];if(!b)continue;var h=(H-B-10)*b[1]/mx,bad=(H-B-10)*b[2]/mx,x=L+i*bw;\n"
    "  var r=sv('rect',{x:x+1,y:H-B-h,width:Math.max(1,bw-2),height:h,fill:'#4a78c2'});r.appendChild(sv('title',{},ts(tl.start+i*tl.width)+': '+b[1]+' messages, '+b[2]+' not accepted'));g.appendChild(r);\n"
    "  if(bad>0)g.appendChild(sv('rect',{x:x+1,y:H-B-bad,width:Math.max(1,bw-2),height:bad,fill:'#c24a4a'}));}\n"
    " g.appendChild(sv('text',{x:L,y:H-8},ts(tl.start)));g.appendChild(sv('text',{x:W-10,y:H-8,'text-anchor':'end'},ts(tl.start+nb*tl.width)));\n"
    " s.appendChild(g);s.appendChild(el('p',{cls:'note',text:'One bar per '+num(tl.width)+' s; red: rejected, aborted or incomplete transactions.'}));}\n"
    "else s.appendChild(el('p',{cls:'note',text:'no messages'}));\n"
    /* graph */
    "s=sec('graph','Who mails whom (sender domain \\u2192 recipient domain, accepted recipients, top '+gr.length+')');\n"
    "if(gr.length){var sd=[],rd=[],si={},ri={},mxg=1;gr.forEach(function(e){if(!(e[0] in si)){si[e[0]]=sd.length;sd.push(e[0]);}if(!(e[1] in ri)){ri[e[1]]=rd.length;rd.push(e[1]);}mxg=Math.max(mxg,e[2]);});\n"
    " var rows=Math.max(sd.length,rd.length),GH=rows*22+20,GW=900,g2=sv('svg',{viewBox:'0 0 '+GW+' '+GH,width:'100%',role:'img'});\n"
    " function ys(i,n){return 20+i*((GH-30)/Math.max(1,n-1||1));}\n"
    " gr.forEach(function(e){var y1=ys(si[e[0]],sd.length),y2=ys(ri[e[1]],rd.length),p=sv('path',{d:'M300 '+y1+' C450 '+y1+' 450 '+y2+' 600 '+y2,\n"
    "  fill:'none',stroke:'#4a78c2','stroke-opacity':0.55,'stroke-width':1+7*e[2]/mxg});p.appendChild(sv('title',{},e[0]+' \\u2192 '+e[1]+': '+e[2]));g2.appendChild(p);});\n"
    " sd.forEach(function(d,i){g2.appendChild(sv('text',{x:292,y:ys(i,sd.length)+4,'text-anchor':'end'},d.length>45?d.slice(0,44)+'\\u2026':d));});\n"
    " rd.forEach(function(d,i){g2.appendChild(sv('text',{x:608,y:ys(i,rd.length)+4},d.length>45?d.slice(0,44)+'\\u2026':d));});s.appendChild(g2);}\n"
    "else s.appendChild(el('p',{cls:'note',text:'no accepted recipients'}));\n"
    /* top lists */
    "s=sec('top','Top talkers');var gd=el('div',{cls:'grid'});s.appendChild(gd);\n"
    "toplist(gd,'Envelope senders (MAIL FROM)',top.senders||[]);toplist(gd,'Header From',top.header_from||[]);toplist(gd,'Recipients (RCPT TO)',top.recipients||[]);\n"
    "toplist(gd,'Clients',top.clients||[]);toplist(gd,'Servers',top.servers||[]);toplist(gd,'EHLO/HELO names',top.helos||[]);\n"
    /* findings */
    "s=sec('findings','Findings ('+num(ov.findings||0)+')');if((top.rules||[]).length)toplist(s,'By rule',top.rules);\n"
    "if(fnd.length)table(s,[['severity',function(r){return r[1];},''],['rule',function(r){return r[2];},'mono'],['evidence',function(r){return r[3];}],\n"
    " ['message',function(r){return r[5]!=null?mlink(r[5],byId[r[5]]?(byId[r[5]][7]||'#'+r[5]):'#'+r[5]):'';}],['session',function(r){return r[4];},'num'],\n"
    " ['time',function(r){return ts(r[6]);},'mono'],['packet',function(r){return r[7];},'num']],fnd);else s.appendChild(el('p',{cls:'note',text:'no findings'}));\n"
    "Array.prototype.forEach.call(s.querySelectorAll('tbody tr td:first-child'),function(td){td.className='sev-'+td.textContent;});\n"
    /* attachments */
    "s=sec('attachments','Attachments ('+num(ov.attachments||0)+')');\n"
    "if(att.length)table(s,[['file name',function(r){return r[1];}],['type',function(r){return r[2];},'mono'],['size',function(r){return num(r[3]);},'num'],\n"
    " ['SHA-256',function(r){return r[4];},'mono'],['message',function(r){return mlink(r[0],r[5]);}],['envelope sender',function(r){return r[6];}]],att);\n"
    "else s.appendChild(el('p',{cls:'note',text:'no attachments'}));\n"
    /* messages */
    "s=sec('messages','Messages ('+num(msgs.length)+' transactions)');\n"
    "table(s,[['time',function(r){return ts(r[1]);},'mono'],['client',function(r){return r[2];},'mono'],['envelope sender',function(r){return r[4];}],\n"
    " ['recipients',function(r){return r[6];}],['subject',function(r){return mlink(r[0],r[7]);}],['disposition',function(r){return r[8];}],\n"
    " ['att.',function(r){return r[9];},'num'],['findings',function(r){return r[11];},'num'],['queue id',function(r){return r[13];},'mono']],msgs);\n"
    /* detail */
    "var dsec=el('section',{id:'detail',hidden:''});document.getElementById('main').insertBefore(dsec,document.getElementById('main').firstChild);\n"
    "function dl(pairs){var d=el('dl');pairs.forEach(function(p){d.appendChild(el('dt',{text:p[0]}));d.appendChild(el('dd',{text:p[1]==null?'':String(p[1])}));});return d;}\n"
    "function simple(parent,cols,rows){var t=el('table'),hr=el('tr');cols.forEach(function(c){hr.appendChild(el('th',{text:c}));});t.appendChild(hr);\n"
    " rows.forEach(function(r){var tr=el('tr');r.forEach(function(v){tr.appendChild(el('td',{text:v==null?'':String(v)}));});t.appendChild(tr);});parent.appendChild(t);}\n"
    "function show(){var m=/^#m(\\d+)$/.exec(location.hash);while(dsec.firstChild)dsec.removeChild(dsec.firstChild);\n"
    " if(!m){dsec.hidden=true;return;}var id=Number(m[1]),row=byId[id],d=det[id];dsec.hidden=false;\n"
    " dsec.appendChild(el('h2',{text:'Message '+id+(row&&row[7]?': '+row[7]:'')}));dsec.appendChild(el('p',null,[el('a',{href:'#messages',text:'back to the list'})]));\n"
    " if(!d){dsec.appendChild(el('p',{cls:'note',text:'Details of this message are not embedded (the report embeds '+num(meta.details||0)+'; use --details N). '+\n"
    "  'Ask the database: smtpsift query \"SELECT name, value FROM headers WHERE message_id = '+id+'\"'}));if(row)dsec.appendChild(dl([['time',ts(row[1])],['envelope sender',row[4]],['recipients',row[6]],['subject',row[7]]]));window.scrollTo(0,0);return;}\n"
    " dsec.appendChild(el('h3',{text:'Envelope'}));dsec.appendChild(dl([['time',row?ts(row[1]):''],['client',d.client],['server',d.server],['EHLO/HELO',d.helo],\n"
    "  ['banner',d.banner],['STARTTLS',d.tls?'yes':'no'],['MAIL FROM',d.mail_from],['MAIL parameters',d.mail_params],['final reply',d.data_reply],\n"
    "  ['queue id',d.queue_id],['Message-ID',d.message_id],['size',d.size],['SHA-256',d.sha256],['session uid',d.uid],['capture, packets',d.capture+', '+d.packets]]));\n"
    " dsec.appendChild(el('h3',{text:'Recipients'}));simple(dsec,['address','reply','text','accepted'],d.rcpt.map(function(r){return [r[0],r[1],r[2],r[3]?'yes':'no'];}));\n"
    " if(d.findings.length){dsec.appendChild(el('h3',{text:'Findings'}));simple(dsec,['severity','rule','evidence'],d.findings);}\n"
    " dsec.appendChild(el('h3',{text:'Headers'}));simple(dsec,['name','value'],d.headers);\n"
    " dsec.appendChild(el('h3',{text:'MIME parts'}));simple(dsec,['path','type','file name','size','SHA-256','attachment'],d.parts.map(function(p){return [p[0],p[1],p[2],p[3],p[4],p[5]?'yes':''];}));\n"
    " dsec.appendChild(el('h3',{text:'Session commands'}));simple(dsec,['#','verb','arguments','reply','reply text','transaction'],d.commands);window.scrollTo(0,0);}\n"
    "window.addEventListener('hashchange',show);show();\n"
    "var ok=el('div',{id:'render-ok',hidden:''});ok.setAttribute('data-messages',String(ov.messages||0));ok.textContent='rendered';document.body.appendChild(ok);\n"
    "})();\n";

static void html_usage(FILE *out)
{
    fprintf(out,
        "usage: smtpsift report --html FILE [-d DB [-d DB2...]] [--details N] [-q]\n"
        "\n"
        "Writes one self-contained HTML file (no network access, no external scripts or\n"
        "fonts) to open in a browser: overview counts, a timeline, who mails whom\n"
        "(sender domain -> recipient domain), top senders, recipients, clients and\n"
        "servers, findings with their evidence, attachments with names, types and\n"
        "SHA-256, and every message linked to its details (envelope, headers, parts,\n"
        "the commands of its session). Tables show 100 rows a page with a search box.\n"
        "\n"
        "  --details N   embed the details of the first N messages (default %d);\n"
        "                the others link to the query that shows them\n"
        "  -d DB         database (default ./smtpsift.db); several -d as one\n"
        "\n"
        "examples:\n"
        "  smtpsift report --html report.html && xdg-open report.html\n"
        "  smtpsift report --html all.html -d sensor1.db -d sensor2.db\n",
        DETAILS_DEFAULT);
}

int sift_cli_html(int argc, char **argv)
{
    static const struct option longopts[] = {
        { "html", required_argument, NULL, 'H' },
        { "db", required_argument, NULL, 'd' },
        { "details", required_argument, NULL, 'D' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char **dbs = sift_xcalloc((size_t)argc + 1, sizeof *dbs);
    size_t n_db = 0;
    const char *path = NULL;
    int quiet = 0, details = DETAILS_DEFAULT, c;
    for (int i = 2; i < argc; i++)   /* "--html --help" must not write a file named --help */
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            html_usage(stdout);
            free(dbs);
            return 0;
        }
    optind = 2;
    while ((c = getopt_long(argc, argv, "d:qh", longopts, NULL)) != -1) {
        switch (c) {
        case 'H': path = optarg; break;
        case 'd': dbs[n_db++] = optarg; break;
        case 'D': {
            char *end;
            long v = strtol(optarg, &end, 10);
            if (*end || v < 0 || v > ROWS_MAX) {
                fprintf(stderr, "smtpsift: --details %s: give a number from 0 to %d\n", optarg, ROWS_MAX);
                free(dbs);
                return 2;
            }
            details = (int)v;
            break;
        }
        case 'q': quiet = 1; break;
        case 'h': html_usage(stdout); free(dbs); return 0;
        default: html_usage(stderr); free(dbs); return 2;
        }
    }
    if (!path || optind != argc) {
        fprintf(stderr, "smtpsift: report --html needs one output file; try: smtpsift report --html report.html\n");
        free(dbs);
        return 2;
    }
    if (n_db == 0) dbs[n_db++] = "smtpsift.db";
    struct sift_store *st;
    char err[512];
    enum sift_status os = sift_cli_open_dbs(dbs, n_db, &st, err, sizeof err);
    if (os != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s\n", err);
        free(dbs);
        return 1;
    }
    FILE *fp = fopen(path, "w");
    if (!fp) {
        fprintf(stderr, "smtpsift: %s: cannot write: %s; check the directory exists and is writable\n",
                path, strerror(errno));
        sift_store_close(st);
        free(dbs);
        return 1;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
          "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; "
          "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>smtpsift report</title>\n<style>", fp);
    fputs(page_css, fp);
    fputs("</style></head><body>\n<header><h1>smtpsift report</h1><div class=\"sub\">", fp);
    for (size_t i = 0; i < n_db; i++) {
        if (i) fputs(", ", fp);
        put_text(fp, dbs[i]);
    }
    fprintf(fp, " &middot; smtpsift %s &middot; times are packet times in UTC</div></header>\n"
                "<nav><a href=\"#overview\">Overview</a><a href=\"#timeline\">Timeline</a>"
                "<a href=\"#graph\">Who mails whom</a><a href=\"#top\">Top talkers</a>"
                "<a href=\"#findings\">Findings</a><a href=\"#attachments\">Attachments</a>"
                "<a href=\"#messages\">Messages</a></nav>\n"
                "<main id=\"main\"><noscript>This report needs JavaScript to render its tables; the data is"
                " in the JSON blocks of this file.</noscript></main>\n", SIFT_VERSION);
    free(dbs);
    char details_sql[sizeof "" + 4096];
    snprintf(details_sql, sizeof details_sql, details_fmt, details);
    char meta_sql[64];
    snprintf(meta_sql, sizeof meta_sql, "SELECT json_object('details', %d)", details);
    const struct block blocks[] = {
        { "meta", meta_sql },        { "overview", overview_sql }, { "timeline", timeline_sql },
        { "graph", graph_sql },      { "top", top_sql },           { "findings", findings_sql },
        { "attachments", attachments_sql }, { "messages", messages_sql }, { "details", details_sql },
    };
    enum sift_status rc = SIFT_OK;
    for (size_t i = 0; i < SIFT_ARRAY_LEN(blocks) && rc == SIFT_OK; i++)
        rc = write_block(fp, st, blocks[i].name, blocks[i].sql, err, sizeof err);
    fputs("<script>", fp);
    fputs(page_js, fp);
    fputs("</script>\n</body></html>\n", fp);
    int werr = ferror(fp);
    if (fclose(fp) != 0) werr = 1;
    sift_store_close(st);
    if (rc != SIFT_OK) {
        fprintf(stderr, "smtpsift: %s\n", err);
        return 1;
    }
    if (werr) {
        fprintf(stderr, "smtpsift: %s: write failed (disk full?)\n", path);
        return 1;
    }
    if (!quiet) fprintf(stderr, "smtpsift: %s written; open it in a browser\n", path);
    return 0;
}
