#!/bin/bash
# CLI behaviour a user relies on: bad input gets one clear line naming the
# file and exit code 1 while good input is kept; re-ingest duplicates nothing;
# directories; rotated files read as one continuous capture; query formats;
# usage errors exit 2; SIGINT commits what was finished.
set -uo pipefail
bin=$1
samples=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0

ok()   { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_eq() {  # name expected actual
    if [ "$2" == "$3" ]; then ok; else fail "$1: expected [$2] got [$3]"; fi
}
expect_match() {  # name regex text
    if [[ "$3" =~ $2 ]]; then ok; else fail "$1: [$3] does not match /$2/"; fi
}
q() { "$bin" query --csv -d "$1" "$2" | tail -n +2 | tr -d '\r'; }

# --- usage ---
"$bin" >/dev/null 2>&1; expect_eq "no args exit" 2 $?
"$bin" frobnicate >/dev/null 2>&1; expect_eq "unknown command exit" 2 $?
"$bin" ingest -d "$tmp/u.db" >/dev/null 2>&1; expect_eq "ingest without path exit" 2 $?
"$bin" query -d "$tmp/none.db" "SELECT 1" >/dev/null 2>&1; expect_eq "query missing db exit" 1 $?
expect_match "--version" '^smtpsift [0-9]+\.[0-9]+\.[0-9]+$' "$("$bin" --version)"

# --- bad inputs: one line naming the file, exit 1 ---
echo "this is not a capture file" > "$tmp/notes.txt"
: > "$tmp/empty.pcap"
err=$("$bin" ingest -q -d "$tmp/bad.db" "$tmp/notes.txt" 2>&1); rc=$?
expect_eq "not a capture exit" 1 $rc
expect_match "not a capture message" "notes\.txt: .+" "$err"
expect_eq "not a capture one line" 1 "$(printf '%s\n' "$err" | wc -l)"
err=$("$bin" ingest -q -d "$tmp/bad.db" "$tmp/empty.pcap" 2>&1); rc=$?
expect_eq "empty file exit" 1 $rc
expect_match "empty file message" "empty\.pcap: .+" "$err"
err=$("$bin" ingest -q -d "$tmp/bad.db" "$tmp/does-not-exist.pcap" 2>&1); rc=$?
expect_eq "missing file exit" 1 $rc
expect_match "missing file message" "does-not-exist\.pcap: cannot read: No such file" "$err"
# A bad file among good ones: the good one is still ingested.
err=$("$bin" ingest -q -d "$tmp/mixed.db" "$tmp/notes.txt" "$samples/basic.pcap" 2>&1); rc=$?
expect_eq "mixed exit" 1 $rc
expect_eq "mixed: good file kept" 1 "$(q "$tmp/mixed.db" "SELECT count(*) FROM messages WHERE has_content")"

# Not a smtpsift database.
echo "CREATE TABLE t(x);" | sqlite3 "$tmp/other.db" 2>/dev/null || python3 -c "import sqlite3; sqlite3.connect('$tmp/other.db').execute('CREATE TABLE t(x)')"
err=$("$bin" ingest -q -d "$tmp/other.db" "$samples/basic.pcap" 2>&1); rc=$?
expect_eq "foreign db exit" 1 $rc
expect_match "foreign db message" "other\.db: not a smtpsift database" "$err"

# --- truncated capture: cut inside the last packet ---
size=$(stat -c %s "$samples/multi_txn.pcap")
head -c $((size - 20)) "$samples/multi_txn.pcap" > "$tmp/cut.pcap"
err=$("$bin" ingest -q -d "$tmp/cut.db" "$tmp/cut.pcap" 2>&1); rc=$?
expect_eq "truncated exit" 1 $rc
expect_match "truncated message" "cut\.pcap: .*truncated" "$err"
expect_eq "truncated: capture status" truncated "$(q "$tmp/cut.db" "SELECT status FROM captures")"
expect_eq "truncated: finding" 1 "$(q "$tmp/cut.db" "SELECT count(*) FROM findings WHERE rule='capture_truncated'")"
expect_eq "truncated: messages before the cut kept" 3 "$(q "$tmp/cut.db" "SELECT count(*) FROM messages WHERE has_content")"

# --- re-ingest duplicates nothing ---
"$bin" ingest -q -d "$tmp/re.db" "$samples/basic.pcap" "$samples/multi_txn.pcap"; expect_eq "first ingest exit" 0 $?
before=$(q "$tmp/re.db" "SELECT (SELECT count(*) FROM sessions)||'|'||(SELECT count(*) FROM messages)||'|'||(SELECT count(*) FROM commands)||'|'||(SELECT count(*) FROM recipients)||'|'||(SELECT count(*) FROM headers)||'|'||(SELECT count(*) FROM findings)||'|'||(SELECT count(*) FROM parts)")
err=$("$bin" ingest -d "$tmp/re.db" "$samples/basic.pcap" "$samples/multi_txn.pcap" 2>&1); rc=$?
expect_eq "second ingest exit" 0 $rc
expect_match "second ingest says skipped" "basic\.pcap: already ingested" "$err"
after=$(q "$tmp/re.db" "SELECT (SELECT count(*) FROM sessions)||'|'||(SELECT count(*) FROM messages)||'|'||(SELECT count(*) FROM commands)||'|'||(SELECT count(*) FROM recipients)||'|'||(SELECT count(*) FROM headers)||'|'||(SELECT count(*) FROM findings)||'|'||(SELECT count(*) FROM parts)")
expect_match "re-ingest counted rows" '^2[|]4[|][0-9]+[|]5[|][0-9]+[|][0-9]+[|]4$' "$before"
expect_eq "re-ingest row counts" "$before" "$after"
expect_eq "re-ingest captures" 2 "$(q "$tmp/re.db" "SELECT count(*) FROM captures")"

# --- a directory is its capture files in name order ---
mkdir "$tmp/dir"
cp "$samples/basic.pcap" "$tmp/dir/b.pcap"
cp "$samples/multi_txn.pcap" "$tmp/dir/a.pcap"
cp "$tmp/notes.txt" "$tmp/dir/readme.txt"
"$bin" ingest -q -d "$tmp/dir.db" "$tmp/dir"; expect_eq "directory exit" 0 $?
expect_eq "directory order" "$tmp/dir/a.pcap $tmp/dir/b.pcap" "$(q "$tmp/dir.db" "SELECT group_concat(path, ' ') FROM (SELECT path FROM captures ORDER BY file_index)")"

# --- rotated files are one continuous capture ---
python3 - "$samples/multi_txn.pcap" "$tmp/part1.pcap" "$tmp/part2.pcap" <<'PY'
import struct, sys
src, a, b = sys.argv[1:4]
data = open(src, 'rb').read()
hdr, off, recs = data[:24], 24, []
endian = '<' if data[:4] == b'\xd4\xc3\xb2\xa1' else '>'
while off + 16 <= len(data):
    incl = struct.unpack(endian + 'I', data[off + 8:off + 12])[0]
    recs.append(data[off:off + 16 + incl]); off += 16 + incl
half = len(recs) // 2
open(a, 'wb').write(hdr + b''.join(recs[:half]))
open(b, 'wb').write(hdr + b''.join(recs[half:]))
PY
"$bin" ingest -q -d "$tmp/rot.db" "$tmp/part1.pcap" "$tmp/part2.pcap"; expect_eq "rotated exit" 0 $?
"$bin" ingest -q -d "$tmp/whole.db" "$samples/multi_txn.pcap"
expect_eq "rotated: one session" 1 "$(q "$tmp/rot.db" "SELECT count(*) FROM sessions")"
expect_eq "rotated: same messages as whole file" \
    "$(q "$tmp/whole.db" "SELECT group_concat(sha256) FROM (SELECT sha256 FROM messages ORDER BY id)")" \
    "$(q "$tmp/rot.db" "SELECT group_concat(sha256) FROM (SELECT sha256 FROM messages ORDER BY id)")"
expect_eq "rotated: session spans both captures" "1:2" \
    "$(q "$tmp/rot.db" "SELECT capture_id||':'||last_capture_id FROM sessions")"

# --- query output formats ---
out=$("$bin" query -d "$tmp/whole.db" "SELECT 1 AS one, 'a' AS txt")
expect_eq "table format" $'one  txt\n---  ---\n1    a' "$out"
out=$("$bin" query --json -d "$tmp/whole.db" "SELECT 1 AS one, 'a\"b' AS txt, NULL AS n")
expect_eq "json format" $'[\n  {"one": 1, "txt": "a\\"b", "n": null}\n]' "$out"
out=$("$bin" query --csv -d "$tmp/whole.db" "SELECT 'x,y' AS a, 2 AS b" | tr -d '\r')
expect_eq "csv format" $'a,b\n"x,y",2' "$out"
"$bin" query -d "$tmp/whole.db" "SELECT nosuch FROM messages" >/dev/null 2>"$tmp/qerr"; rc=$?
expect_eq "bad SQL exit" 1 $rc
expect_match "bad SQL message" "no such column: nosuch" "$(cat "$tmp/qerr")"
"$bin" query -d "$tmp/whole.db" "DELETE FROM messages" >/dev/null 2>&1
expect_eq "query is read-only" 3 "$(q "$tmp/whole.db" "SELECT count(*) FROM messages WHERE has_content")"

# --- SIGINT: stop, finish open sessions, commit, exit 1; a re-run redoes the file ---
here=$(cd "$(dirname "$0")" && pwd)
python3 "$here/make_sessions.py" 10000 "$tmp/many.pcap"
"$bin" ingest -q --store-raw -d "$tmp/int.db" "$tmp/many.pcap" &
pid=$!
for _ in $(seq 1 600); do   # wait (at most 60 s) until a first batch is committed
    n=$(q "$tmp/int.db" "SELECT count(*) FROM messages" 2>/dev/null || echo 0)
    [ "${n:-0}" -gt 0 ] && break
    sleep 0.1
done
kill -INT $pid
wait $pid; rc=$?
expect_eq "SIGINT exit" 1 $rc
expect_eq "SIGINT: integrity" ok "$(q "$tmp/int.db" "PRAGMA integrity_check")"
expect_eq "SIGINT: run status" interrupted "$(q "$tmp/int.db" "SELECT status FROM ingests")"
expect_eq "SIGINT: capture status" interrupted "$(q "$tmp/int.db" "SELECT status FROM captures")"
got=$(q "$tmp/int.db" "SELECT count(*) FROM messages WHERE disposition='accepted'")
if [ "$got" -gt 0 ] && [ "$got" -lt 10000 ]; then ok; else fail "SIGINT: partial accepted messages: got $got"; fi
expect_eq "SIGINT: every accepted message whole" 0 "$(q "$tmp/int.db" "SELECT count(*) FROM messages m WHERE disposition='accepted' AND ((SELECT count(*) FROM recipients r WHERE r.message_id=m.id) <> 1 OR (SELECT count(*) FROM parts p WHERE p.message_id=m.id) <> 1 OR (SELECT count(*) FROM message_raw w WHERE w.message_id=m.id) <> 1 OR subject <> 'message '||substr(mail_from, 2, instr(mail_from,'@')-2))")"
err=$("$bin" ingest --store-raw -d "$tmp/int.db" "$tmp/many.pcap" 2>&1); rc=$?
expect_eq "re-run after SIGINT exit" 0 $rc
expect_match "re-run after SIGINT redoes the file" "removed rows of an earlier unfinished ingest" "$err"
expect_eq "re-run after SIGINT: all messages once" "10000|10000|10000|1" \
    "$(q "$tmp/int.db" "SELECT (SELECT count(*) FROM messages)||'|'||(SELECT count(DISTINCT subject) FROM messages)||'|'||(SELECT count(*) FROM sessions)||'|'||(SELECT count(*) FROM captures)")"

# --- report: findings by rule with counts, then the messages to read first with evidence ---
"$bin" ingest -q -d "$tmp/det.db" --config "$samples/detect.conf" "$samples/detect_set.pcap"
rep=$("$bin" report -d "$tmp/det.db" -n 3); rc=$?
expect_eq "report exit" 0 $rc
expect_match "report header" "Findings by rule: [0-9]+ in [0-9]+ rules" "$rep"
expect_match "report rule line" "high +2 +2  local_domain_from_outside" "$rep"
expect_match "report first message" " 1\. score 20  message [0-9]+  session S[0-9a-f]{15}  client 203\.0\.113\.22" "$rep"
expect_match "report evidence, bidi made visible" "attachment \"invoice<U\+202E>fdp\.exe\"" "$rep"
expect_match "report session findings" "\[high\] auth_cleartext  session S[0-9a-f]{15}  client 203\.0\.113\.50: AUTH PLAIN credentials of alice sent without TLS" "$rep"

# --- decoding threads change nothing: the same rows, the same ids, as decoding on the capture thread ---
dump_all() {   # every table except the run's own timestamps
    for t in $(sqlite3 "$1" "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'message_search%' AND name NOT IN ('ingests','sqlite_sequence') ORDER BY name"); do
        echo "== $t"; sqlite3 "$1" "SELECT * FROM $t" | md5sum
    done
}
SIFT_THREADS=0 "$bin" ingest -q -d "$tmp/th0.db" "$samples" "$tmp/many.pcap"
SIFT_THREADS=3 "$bin" ingest -q -d "$tmp/th3.db" "$samples" "$tmp/many.pcap"
expect_eq "threads: all transactions (samples 92 + 10,000) in both" "10092|10092" \
    "$(q "$tmp/th0.db" "SELECT count(*) FROM messages")|$(q "$tmp/th3.db" "SELECT count(*) FROM messages")"
expect_eq "threads: every table identical (0 vs 3 decoding threads)" "$(dump_all "$tmp/th0.db")" "$(dump_all "$tmp/th3.db")"

# --- a message sent one byte per segment, with an attachment that claims a huge size ---
python3 - "$here/../safety" "$tmp/tiny.pcap" <<'PY'
import sys
sys.path.insert(0, sys.argv[1])
from safecap import Pcap
body = b"".join(b"line %04d of a message cut into one-byte segments\r\n" % i for i in range(30))
msg = (b"From: <a@b.test>\r\nSubject: tiny segments\r\nMIME-Version: 1.0\r\n"
       b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n" + body +
       b"--B\r\nContent-Type: application/gzip\r\n"
       b"Content-Disposition: attachment; filename=\"big.gz\"; size=999999999999\r\n"
       b"Content-Transfer-Encoding: base64\r\n\r\nH4sIAAAAAAAAA8tIzcnJBwCGphA2BQAAAA==\r\n--B--\r\n")
conv = [(1, b"220 mx ESMTP\r\n"), (0, b"EHLO c\r\n"), (1, b"250 mx\r\n"), (0, b"MAIL FROM:<a@b.test>\r\n"),
        (1, b"250 ok\r\n"), (0, b"RCPT TO:<c@d.test>\r\n"), (1, b"250 ok\r\n"), (0, b"DATA\r\n"),
        (1, b"354 go\r\n"), (0, msg + b".\r\n"), (1, b"250 queued\r\n"), (0, b"QUIT\r\n"), (1, b"221 bye\r\n")]
p = Pcap()
p.smtp_session("10.9.0.1", "10.9.0.2", 40000, conv, mss=1)
p.write(sys.argv[2])
PY
"$bin" ingest -q -d "$tmp/tiny.db" "$tmp/tiny.pcap"
expect_eq "one-byte segments: the message whole" "tiny segments|accepted|2" \
    "$(q "$tmp/tiny.db" "SELECT subject||'|'||disposition||'|'||n_parts FROM messages")"
expect_eq "one-byte segments: finding for the client only" "tcp_tiny_segments|low|the client sent 1924 of its 1924 data segments with 1 to 8 bytes" \
    "$(q "$tmp/tiny.db" "SELECT rule||'|'||severity||'|'||detail FROM findings WHERE rule='tcp_tiny_segments'")"
expect_eq "size claim: finding, real size kept" "mime_size_mismatch|part 2 big.gz declares size=999999999999; decodes to 25 bytes|25" \
    "$(q "$tmp/tiny.db" "SELECT replace(f.rule||'|'||f.detail, ',', ';')||'|'||(SELECT size FROM parts WHERE filename='big.gz') FROM findings f WHERE f.rule='mime_size_mismatch'")"

# --- implicit TLS (SMTPS): a ClientHello first, to port 465, is a TLS session; to 8443 it is not mail ---
python3 - "$here/../safety" "$here/../fixtures/smtp/starttls_client_hello.txt" "$tmp/smtps.pcap" <<'PY'
import re, sys
sys.path.insert(0, sys.argv[1])
from safecap import Pcap
line = next(l for l in open(sys.argv[2]) if l.startswith("c: \\x16"))[3:].rstrip("\n")
hello = bytes(int(h, 16) for h in re.findall(r"\\x([0-9a-f]{2})", line))
conv = [(0, hello), (1, b"\x16\x03\x03\x00\x05world"), (0, b"\x17\x03\x03\x00\x04data")]
p = Pcap()
p.smtp_session("10.9.1.1", "10.9.1.2", 40001, conv, sport=465)
p.smtp_session("10.9.1.1", "10.9.1.3", 40002, conv, sport=8443)
p.write(sys.argv[3])
PY
"$bin" ingest -q -d "$tmp/smtps.db" "$tmp/smtps.pcap"
expect_eq "implicit TLS on 465: one TLS session with version and SNI, no command" "465|1|TLS 1.3|mx.example.test|0|4" \
    "$(q "$tmp/smtps.db" "SELECT server_port||'|'||tls||'|'||tls_version||'|'||tls_sni||'|'||(SELECT count(*) FROM commands)||'|'||tls_offset_packet FROM sessions")"
expect_eq "implicit TLS: the finding says so" "implicit_tls|info" \
    "$(q "$tmp/smtps.db" "SELECT rule||'|'||severity FROM findings WHERE rule='implicit_tls'")"

# --- no temporary files possible: a 3 MiB message is cut at the spool threshold, said three ways ---
python3 -c "import sys; sys.path.insert(0, sys.argv[1]); import test_bigmsg; b = test_bigmsg.make(sys.argv[2], 3, 7)
print('|'.join(map(str, [b['total'], b['sha256'], b['subject'], b['att_name'], b['att_len'], *b['att']])))" \
    "$here/../safety" "$tmp/big3.pcap" >"$tmp/big3.want"
err=$(TMPDIR="$tmp/no/such/dir" "$bin" ingest -q -d "$tmp/nospool.db" "$tmp/big3.pcap" 2>&1); rc=$?
expect_eq "no spool: exit 1" 1 $rc
expect_match "no spool: warned at start" "smtpsift: warning: cannot create temporary files in $tmp/no/such/dir \(No such file or directory\): messages over 2 MiB will be cut" "$err"
expect_match "no spool: counted at the end" "smtpsift: 1 message cut: no temporary file could be written \(finding spool_failed\)" "$err"
expect_eq "no spool: message kept up to 2 MiB, truncated, finding high" "1|accepted|spool_failed|high" \
    "$(q "$tmp/nospool.db" "SELECT m.truncated||'|'||m.disposition||'|'||f.rule||'|'||f.severity FROM messages m JOIN findings f ON f.session_id=m.session_id WHERE f.rule='spool_failed' AND m.size BETWEEN 2000000 AND 2097152")"

# --- the capture is the store: message bytes not in the database by default; export and
# extract read them again from the capture files and check their SHA-256 ---
"$bin" ingest -q -d "$tmp/ref.db" "$samples"
"$bin" ingest -q --store-raw -d "$tmp/raw.db" "$samples"
expect_eq "by reference: no message bytes, same messages, hashes and parts" "0|$(q "$tmp/raw.db" "SELECT count(*)||'|'||total(length(sha256))||'|'||(SELECT count(*) FROM parts) FROM messages")" \
    "$(q "$tmp/ref.db" "SELECT (SELECT count(*) FROM message_raw)||'|'||count(*)||'|'||total(length(sha256))||'|'||(SELECT count(*) FROM parts) FROM messages")"
expect_eq "--store-raw: every message with content has its bytes" "88|88" \
    "$(q "$tmp/raw.db" "SELECT count(*)||'|'||(SELECT count(*) FROM message_raw r JOIN messages m ON m.id=r.message_id AND length(r.data)=m.size) FROM messages WHERE has_content")"
expect_eq "captures.realpath is the absolute path" "$(cd "$samples" && pwd -P)/basic.pcap" \
    "$(q "$tmp/ref.db" "SELECT realpath FROM captures WHERE path LIKE '%/basic.pcap'")"
err=$("$bin" export -d "$tmp/ref.db" --eml "$tmp/ref_eml" --mbox "$tmp/ref.mbox" 2>&1); rc=$?
expect_eq "by reference: export exit 0" 0 $rc
expect_match "by reference: export says where the bytes came from" "smtpsift: 88 messages exported \(87 new .eml files in $tmp/ref_eml\) smtpsift: 88 of them read again from their capture files \(SHA-256 checked\)" "$(echo $err)"
"$bin" export -d "$tmp/raw.db" --eml "$tmp/raw_eml" --mbox "$tmp/raw.mbox" 2>/dev/null
expect_eq "by reference: the same .eml files as from stored bytes" "87|" \
    "$(ls "$tmp/ref_eml" | wc -l)|$(diff -r "$tmp/ref_eml" "$tmp/raw_eml")"
expect_eq "by reference: .eml names are their SHA-256" 0 \
    "$(cd "$tmp/ref_eml" && for f in *.eml; do [ "$(sha256sum < "$f" | cut -c1-64).eml" = "$f" ] || echo "$f"; done | wc -l)"
expect_eq "by reference: the same mbox, same order" "$(sha256sum < "$tmp/raw.mbox")" "$(sha256sum < "$tmp/ref.mbox")"
"$bin" extract -d "$tmp/ref.db" "$tmp/ref_x" 2>/dev/null; rc=$?
"$bin" extract -d "$tmp/raw.db" "$tmp/raw_x" 2>/dev/null
expect_eq "by reference: extract, the same attachments" "0|3|" "$rc|$(ls "$tmp/ref_x" | wc -l)|$(diff -r "$tmp/ref_x" "$tmp/raw_x")"
expect_eq "by reference: extract records the paths" 3 "$(q "$tmp/ref.db" "SELECT count(*) FROM parts WHERE extracted_path IS NOT NULL")"
# one message: --id (IPv6 session, so the address filter sees IPv6)
id6=$(q "$tmp/ref.db" "SELECT m.id FROM messages m JOIN sessions s ON s.id=m.session_id WHERE s.ip_version=6 AND m.has_content ORDER BY m.id LIMIT 1")
sha6=$(q "$tmp/ref.db" "SELECT sha256 FROM messages WHERE id=$id6")
err=$("$bin" export -d "$tmp/ref.db" --eml "$tmp/one" --id "$id6" 2>&1); rc=$?
expect_eq "--id: one IPv6 message, byte for byte" "0|$sha6.eml|$sha6" "$rc|$(ls "$tmp/one")|$(sha256sum < "$tmp/one/$sha6.eml" | cut -c1-64)"
expect_match "--id: one capture file read" "reading 1 capture file again for 1 message" "$err"
err=$("$bin" export -d "$tmp/ref.db" --eml "$tmp/one" --id 99999 2>&1); rc=$?
expect_eq "--id unknown: exit 1" 1 $rc
expect_match "--id unknown: said" "smtpsift: --id 99999: no message with content has that id" "$err"
expect_eq "--id not a number: exit 2" 2 "$("$bin" export -d "$tmp/ref.db" --eml "$tmp/one" --id x >/dev/null 2>&1; echo $?)"
# a session spanning two rotated files comes out whole
"$bin" export -d "$tmp/rot.db" --eml "$tmp/rot_eml" 2>/dev/null; rc=$?
expect_eq "rotated files: export exit 0, the 3 messages byte for byte" "0|3" \
    "$rc|$(cd "$tmp/rot_eml" && for f in *.eml; do [ "$(sha256sum < "$f" | cut -c1-64).eml" = "$f" ] && echo "$f"; done | grep -c -F -f <(q "$tmp/whole.db" "SELECT sha256 FROM messages WHERE has_content"))"
# a message over the spool threshold (3 MiB), rebuilt through the temporary database
"$bin" ingest -q -d "$tmp/big3.db" "$tmp/big3.pcap"
# (spooled past 2 MiB, then mapped for hashing and decoding: values from Python's hashlib)
expect_eq "3 MiB message: size, SHA-256, subject, attachment name, size, MD5, SHA-1, SHA-256, spooled" \
    "$(cat "$tmp/big3.want")|1" \
    "$(q "$tmp/big3.db" "SELECT m.size||'|'||m.sha256||'|'||m.subject||'|'||p.filename||'|'||p.size||'|'||p.md5||'|'||p.sha1||'|'||p.sha256||'|'||(SELECT count(*) FROM findings WHERE rule='message_spooled') FROM messages m JOIN parts p ON p.message_id=m.id AND p.is_attachment")"
mkdir "$tmp/rbtmp"
TMPDIR="$tmp/rbtmp" "$bin" export -d "$tmp/big3.db" --eml "$tmp/big3_eml" 2>/dev/null; rc=$?
expect_eq "3 MiB message: rebuilt byte for byte, no temporary file left" "0|$(q "$tmp/big3.db" "SELECT sha256 FROM messages WHERE has_content")|" \
    "$rc|$(sha256sum "$tmp"/big3_eml/*.eml | cut -c1-64)|$(ls -A "$tmp/rbtmp")"
# Ctrl-C while captures are read again: exit 1, said, the temporary database (message bytes) gone
"$bin" ingest -q -d "$tmp/many_ref.db" "$tmp/many.pcap"
mkdir "$tmp/inttmp"
TMPDIR="$tmp/inttmp" "$bin" export -d "$tmp/many_ref.db" --eml "$tmp/many_eml" 2>"$tmp/int_export.err" &
pid=$!
for _ in $(seq 100); do ls "$tmp/inttmp" 2>/dev/null | grep -q rebuild && break; sleep 0.05; done
sleep 0.3
kill -INT $pid
wait $pid; rc=$?
expect_eq "export interrupted: exit 1, no temporary database left" "1|" "$rc|$(ls -A "$tmp/inttmp")"
expect_match "export interrupted: said" "interrupted" "$(cat "$tmp/int_export.err")"

# the capture moved: said, exit 1, the rest exported; --pcap-dir finds it
mkdir -p "$tmp/caps" "$tmp/moved"
cp "$samples/attachments.pcap" "$samples/multi_txn.pcap" "$tmp/caps/"
"$bin" ingest -q -d "$tmp/mv.db" "$tmp/caps"
mv "$tmp/caps/attachments.pcap" "$tmp/moved/"
err=$("$bin" export -d "$tmp/mv.db" --eml "$tmp/mv_eml" 2>&1); rc=$?
expect_eq "capture moved: exit 1, the other file's 3 messages exported" "1|3" "$rc|$(ls "$tmp/mv_eml" | wc -l)"
expect_match "capture moved: said, with the way out" "smtpsift: capture $tmp/caps/attachments.pcap is not there \($tmp/caps/attachments.pcap: No such file or directory\): 1 message from it cannot be had; --pcap-dir DIR looks for it in DIR.*1 message could not be exported" "$(echo $err)"
err=$("$bin" export -d "$tmp/mv.db" --eml "$tmp/mv_eml" --pcap-dir "$tmp/moved" 2>&1); rc=$?
expect_eq "capture moved, --pcap-dir: exit 0, all 4" "0|4" "$rc|$(ls "$tmp/mv_eml" | wc -l)"
# another file under that name: refused by size, or (same size) by the messages' SHA-256
cp "$samples/basic.pcap" "$tmp/moved/attachments.pcap"
err=$("$bin" export -d "$tmp/mv.db" --eml "$tmp/mv2" --pcap-dir "$tmp/moved" 2>&1); rc=$?
expect_eq "other file, other size: exit 1" 1 $rc
expect_match "other file, other size: said" "$tmp/moved/attachments.pcap has [0-9]+ bytes, the ingested file had $(stat -c %s "$samples/attachments.pcap")" "$err"
python3 - "$samples/attachments.pcap" "$tmp/moved/attachments.pcap" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
i = d.find(b'Subject:')           # same size, one letter of the message changed
d[i + 9] ^= 0x20
open(sys.argv[2], 'wb').write(d)
PY
err=$("$bin" export -d "$tmp/mv.db" --eml "$tmp/mv3" --pcap-dir "$tmp/moved" 2>&1); rc=$?
expect_eq "same size, changed bytes: exit 1, nothing wrong written" "1|3" "$rc|$(ls "$tmp/mv3" | wc -l)"
expect_match "same size, changed bytes: said" "smtpsift: message [0-9]+ \(SHA-256 [0-9a-f]{64}\) is not in its capture any more: the file changed since it was ingested" "$err"
# same size but cut short inside a record (zeros after a point): the reader says so, and the message
python3 - "$samples/attachments.pcap" "$tmp/moved/attachments.pcap" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
cut = len(d) * 2 // 3
open(sys.argv[2], 'wb').write(bytes(d[:cut]) + bytes(len(d) - cut))
PY
err=$("$bin" export -d "$tmp/mv.db" --eml "$tmp/mv4" --pcap-dir "$tmp/moved" 2>&1); rc=$?
expect_eq "same size, zeros inside: exit 1, the other 3 exported" "1|3" "$rc|$(ls "$tmp/mv4" | wc -l)"
expect_match "same size, zeros inside: the capture's fault named, then the message" "$tmp/moved/attachments.pcap: capture .*smtpsift: message [0-9]+ \\(SHA-256 [0-9a-f]{64}\\) could not be read again from its capture \\(see above\\)" "$(echo $err)"
err=$("$bin" extract -d "$tmp/mv.db" "$tmp/mv_x" 2>&1); rc=$?
expect_match "capture moved: extract says what it could not read" "smtpsift: 1 message could not be read \(see above\): nothing extracted from it" "$err"
expect_eq "capture moved: extract exit 1" 1 $rc

# --- watchdog: a message whose decoding hangs is given up, stored undecoded, the run goes on ---
# (SIFT_TEST_MIME_HANG: the decoder spins on the message containing that text, as a
# parser stuck in a loop would; the limit is CPU time of the decoding thread)
start=$(date +%s)
err=$(SIFT_TEST_MIME_HANG="multi txn 2 of 3" "$bin" ingest --store-raw -d "$tmp/hang.db" --mime-timeout 1 "$samples/multi_txn.pcap" 2>&1); rc=$?
el=$(( $(date +%s) - start ))
expect_eq "watchdog: exit 0" 0 $rc
if [ "$el" -lt 30 ]; then ok; else fail "watchdog: run took $el s"; fi
expect_eq "watchdog: finding on the stuck message" "mime_parse_timeout|txn2-sender@client.example.test" \
    "$(q "$tmp/hang.db" "SELECT f.rule||'|'||m.mail_from FROM findings f JOIN messages m ON m.id=f.message_id WHERE f.rule LIKE 'mime_parse_%'")"
expect_eq "watchdog: stuck message kept whole and hashed, not decoded" "28af0a933988834d052ec73073ddddda99483fa80fab89173464ea824220b459|0|1|" \
    "$(q "$tmp/hang.db" "SELECT m.sha256||'|'||(SELECT count(*) FROM parts p WHERE p.message_id=m.id)||'|'||(SELECT count(*) FROM message_raw r WHERE r.message_id=m.id AND length(r.data)=m.size)||'|'||coalesce(m.subject,'') FROM messages m WHERE m.mail_from='txn2-sender@client.example.test'")"
expect_eq "watchdog: the other messages decoded" "smtpsift multi txn 1 of 3|smtpsift multi txn 3 of 3" \
    "$(q "$tmp/hang.db" "SELECT group_concat(subject,'|') FROM (SELECT subject FROM messages WHERE subject IS NOT NULL ORDER BY id)")"
# --- watchdog, every message stuck: 3 decoders given up (one thread), then the rest stored undecoded ---
start=$(date +%s)
SIFT_THREADS=1 SIFT_TEST_MIME_HANG="Subject: message" "$bin" ingest -q --store-raw -d "$tmp/hang3.db" --mime-timeout 1 "$tmp/many.pcap"; rc=$?
el=$(( $(date +%s) - start ))
expect_eq "stuck decoders: exit 0" 0 $rc
if [ "$el" -lt 60 ]; then ok; else fail "stuck decoders: run took $el s"; fi
expect_eq "stuck decoders: 3 timeouts, 9,997 skipped, all 10,000 stored and hashed, none decoded" "3|9997|10000|0" \
    "$(q "$tmp/hang3.db" "SELECT (SELECT count(*) FROM findings WHERE rule='mime_parse_timeout')||'|'||(SELECT count(*) FROM findings WHERE rule='mime_parse_skipped')||'|'||(SELECT count(*) FROM messages WHERE length(sha256)=64 AND EXISTS (SELECT 1 FROM message_raw r WHERE r.message_id=messages.id))||'|'||(SELECT count(*) FROM parts)")"
expect_eq "--mime-timeout bad value" 2 "$("$bin" ingest -d "$tmp/x.db" --mime-timeout abc "$samples/basic.pcap" >/dev/null 2>&1; echo $?)"

# --- database and files are private to the owner ---
expect_eq "db mode" 600 "$(stat -c %a "$tmp/whole.db")"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
