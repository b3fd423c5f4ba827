#!/bin/bash
# Faults a user meets, each with exact expectations: SIGTERM behaves like
# SIGINT; a full disk (ulimit -f, and a 6 MB tmpfs when root) and a read-only
# database give one clear line, exit 1 and a consistent database; bad input
# gets one line naming the file, exit 1, and what was ingested stays; files
# are private (0600/0700) whatever the umask, and no temporary file is left.
# Read-only cases need a user that permissions apply to: as root they run as
# nobody (setpriv). Usage: test_faults.sh SMTPSIFT SAMPLES
set -uo pipefail
bin=$1
samples=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'chmod -R u+rwX "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
chmod 755 "$tmp"   # nobody must reach the files of the read-only cases
export G_SLICE=always-malloc
fails=0 passes=0
ok()   { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_eq() { if [ "$2" == "$3" ]; then ok; else fail "$1: expected [$2] got [$3]"; fi; }
expect_match() { if [[ "$3" =~ $2 ]]; then ok; else fail "$1: [$3] does not match /$2/"; fi; }
q() { "$bin" query --csv -d "$1" "$2" | tail -n +2 | tr -d '\r'; }
as_other=()   # prefix that runs a command as a user file permissions apply to
if [ "$(id -u)" -eq 0 ]; then
    if command -v setpriv >/dev/null && setpriv --reuid=nobody --regid=nogroup --clear-groups true 2>/dev/null; then
        as_other=(setpriv --reuid=nobody --regid=nogroup --clear-groups)
    else
        as_other=(SKIP)
    fi
fi
# Messages whose rows are not all there (see tests/safety/test_crash.py).
WHOLE="SELECT count(*) FROM messages m WHERE (m.has_content AND (SELECT count(*) FROM message_raw r
  WHERE r.message_id = m.id AND length(r.data) = m.size) <> 1)
  OR (SELECT count(*) FROM recipients r WHERE r.message_id = m.id) <> m.n_recipients
  OR (SELECT count(*) FROM parts p WHERE p.message_id = m.id) <> m.n_parts
  OR (m.parsed AND NOT EXISTS (SELECT 1 FROM headers h WHERE h.message_id = m.id))
  OR subject <> 'message ' || substr(mail_from, 2, instr(mail_from, '@') - 2)"
python3 "$here/../cli/make_sessions.py" 5000 "$tmp/many.pcap"

# --- SIGTERM: like SIGINT, finish open sessions, commit, exit 1 ---
"$bin" ingest --store-raw -d "$tmp/term.db" "$tmp/many.pcap" 2>"$tmp/term.err" &
pid=$!
for _ in $(seq 1 600); do
    n=$(q "$tmp/term.db" "SELECT count(*) FROM messages" 2>/dev/null || echo 0)
    [ "${n:-0}" -gt 0 ] && break
    sleep 0.1
done
kill -TERM $pid
wait $pid; rc=$?
expect_eq "SIGTERM exit" 1 $rc
expect_match "SIGTERM summary" "interrupted, everything finished so far is committed" "$(cat "$tmp/term.err")"
expect_eq "SIGTERM: integrity" ok "$(q "$tmp/term.db" "PRAGMA integrity_check")"
expect_eq "SIGTERM: statuses" "interrupted|interrupted" \
    "$(q "$tmp/term.db" "SELECT (SELECT status FROM ingests)||'|'||(SELECT status FROM captures)")"
got=$(q "$tmp/term.db" "SELECT count(*) FROM messages WHERE disposition='accepted'")
if [ "$got" -gt 0 ] && [ "$got" -lt 5000 ]; then ok; else fail "SIGTERM: partial messages: got $got"; fi
expect_eq "SIGTERM: every message whole" 0 "$(q "$tmp/term.db" "$WHOLE")"
err=$("$bin" ingest --store-raw -d "$tmp/term.db" "$tmp/many.pcap" 2>&1); rc=$?
expect_eq "re-run after SIGTERM exit" 0 $rc
expect_match "re-run after SIGTERM redoes the file" "removed rows of an earlier unfinished ingest" "$err"
expect_eq "re-run after SIGTERM: all messages once" "5000|5000|1|complete" \
    "$(q "$tmp/term.db" "SELECT (SELECT count(*) FROM messages)||'|'||(SELECT count(DISTINCT subject) FROM messages)||'|'||(SELECT count(*) FROM captures)||'|'||(SELECT status FROM captures)")"

# --- full disk: a file size limit (SIGXFSZ ignored, write() fails with EFBIG) ---
err=$(ulimit -f 8000; "$bin" ingest -q --store-raw -d "$tmp/full.db" "$tmp/many.pcap" 2>&1); rc=$?
expect_eq "file size limit exit" 1 $rc
expect_eq "file size limit message" \
    "smtpsift: $tmp/full.db: database error: disk I/O error (a write failed: disk full or file size limit reached?)" "$err"
expect_eq "file size limit: integrity" ok "$(q "$tmp/full.db" "PRAGMA integrity_check")"
expect_eq "file size limit: statuses" "failed|failed|database error: disk I/O error (a write failed: disk full or file size limit reached?)" \
    "$(q "$tmp/full.db" "SELECT (SELECT status FROM ingests)||'|'||status||'|'||error FROM captures")"
got=$(q "$tmp/full.db" "SELECT count(*) FROM messages")
if [ "$got" -gt 0 ] && [ "$got" -lt 5000 ]; then ok; else fail "file size limit: batches before the limit kept: got $got"; fi
expect_eq "file size limit: every message whole" 0 "$(q "$tmp/full.db" "$WHOLE")"
err=$("$bin" ingest --store-raw -d "$tmp/full.db" "$tmp/many.pcap" 2>&1); rc=$?
expect_eq "re-run with space exit" 0 $rc
expect_match "re-run with space redoes the file" "removed rows of an earlier unfinished ingest" "$err"
expect_eq "re-run with space: all messages once" "5000|5000|1" \
    "$(q "$tmp/full.db" "SELECT (SELECT count(*) FROM messages)||'|'||(SELECT count(DISTINCT subject) FROM messages)||'|'||(SELECT count(*) FROM captures)")"

# A really full file system: a 6 MB tmpfs in a private mount namespace (root).
if [ "$(id -u)" -eq 0 ] && mkdir -p "$tmp/mnt" && unshare -m true 2>/dev/null; then
    err=$(unshare -m sh -c 'mount -t tmpfs -o size=6m tmpfs "$1" && cd "$1" && "$2" ingest -q --store-raw -d full.db "$3"; rc=$?
          python3 -c "import sqlite3, sys; c = sqlite3.connect(\"full.db\"); print(c.execute(\"PRAGMA integrity_check\").fetchone()[0], c.execute(\"SELECT count(*) FROM messages\").fetchone()[0], c.execute(\"SELECT status FROM ingests\").fetchone()[0])" >&2
          exit $rc' sh "$tmp/mnt" "$bin" "$tmp/many.pcap" 2>&1); rc=$?
    expect_eq "tmpfs full exit" 1 $rc
    expect_eq "tmpfs full message" "smtpsift: full.db: database error: database or disk is full" "$(head -1 <<<"$err")"
    expect_match "tmpfs full: integrity ok, batches kept, run failed" "^ok [1-9][0-9]* failed$" "$(tail -1 <<<"$err")"
else
    echo "SKIP: tmpfs full disk (needs root and unshare -m)"
fi

# --- read-only database: a clear line, exit 1, the file unchanged ---
mkdir "$tmp/ro"
"$bin" ingest -q -d "$tmp/ro/a.db" "$samples/basic.pcap"
chmod 755 "$tmp/ro"
before=$(sha256sum < "$tmp/ro/a.db")
# The other user may not be able to reach the checkout (its parent directory may be
# private): give it its own copies of the binary and the capture in the test directory.
if [ -n "${as_other[0]:-}" ] && [ "${as_other[0]}" != SKIP ]; then
    cp "$bin" "$tmp/smtpsift-other" && chmod 755 "$tmp/smtpsift-other"
    cp "$samples/multi_txn.pcap" "$tmp/multi_txn.pcap" && chmod 644 "$tmp/multi_txn.pcap"
    obin="$tmp/smtpsift-other" ocap="$tmp/multi_txn.pcap"
else
    obin="$bin" ocap="$samples/multi_txn.pcap"
fi
if [ "${as_other[0]:-}" == SKIP ]; then
    echo "SKIP: read-only database (root without setpriv)"
else
    chmod 444 "$tmp/ro/a.db"   # as root, nobody may not write it (read-only to everyone)
    err=$("${as_other[@]}" "$obin" ingest -q -d "$tmp/ro/a.db" "$ocap" 2>&1); rc=$?
    expect_eq "read-only file exit" 1 $rc
    expect_eq "read-only file message" \
        "smtpsift: $tmp/ro/a.db: the database file is read-only (no write permission); it cannot be added to" "$err"
    chmod 666 "$tmp/ro/a.db"; chmod 555 "$tmp/ro"   # the file writable, its directory not: no -wal/-shm
    err=$("${as_other[@]}" "$obin" ingest -q -d "$tmp/ro/a.db" "$ocap" 2>&1); rc=$?
    expect_eq "read-only directory exit" 1 $rc
    expect_eq "read-only directory message" "smtpsift: $tmp/ro/a.db: cannot write the database or create its -wal and -shm files (attempt to write a readonly database); check the permissions of the file and its directory" "$err"
    err=$("${as_other[@]}" "$obin" ingest -q -d "$tmp/ro/new.db" "$ocap" 2>&1); rc=$?
    expect_eq "new database in read-only directory exit" 1 $rc
    expect_eq "new database in read-only directory message" "smtpsift: $tmp/ro/new.db: cannot open database: unable to open database file (cannot create it in $tmp/ro: Permission denied)" "$err"
    chmod 755 "$tmp/ro"; chmod 600 "$tmp/ro/a.db"
    expect_eq "read-only: database unchanged" "$before" "$(sha256sum < "$tmp/ro/a.db")"
    expect_eq "read-only: nothing else written" "a.db" "$(ls -A "$tmp/ro" | tr '\n' ' ' | sed 's/ $//')"
fi

# --- bad input: one line naming the file, exit 1, what was ingested stays ---
db="$tmp/keep.db"
"$bin" ingest -q -d "$db" "$samples/basic.pcap"
keep() { q "$db" "SELECT (SELECT count(*) FROM messages)||'|'||(SELECT count(*) FROM captures WHERE status='complete')||'|'||(SELECT count(*) FROM sessions)"; }
kept=$(keep)
expect_eq "kept baseline" "1|1|1" "$kept"
bad() {  # name file expected-message [rows expected after]
    local err rc
    err=$("$bin" ingest -q -d "$db" "$2" 2>&1); rc=$?
    expect_eq "$1 exit" 1 $rc
    expect_eq "$1 message" "smtpsift: $2: $3" "$err"
    expect_eq "$1: ingested rows kept" "${4:-$kept}" "$(keep)"
    expect_eq "$1: integrity" ok "$(q "$db" "PRAGMA integrity_check")"
}
echo "this is not a capture file" > "$tmp/notes.txt"
bad "not a capture" "$tmp/notes.txt" "not a pcap or pcapng capture (magic number 74686973)"
: > "$tmp/empty.pcap"
bad "empty file" "$tmp/empty.pcap" "empty file, not a capture"
size=$(stat -c %s "$samples/multi_txn.pcap")
head -c $((size - 20)) "$samples/multi_txn.pcap" > "$tmp/cut.pcap"
# (its three complete messages are stored, its capture row is 'truncated')
bad "truncated mid-packet" "$tmp/cut.pcap" \
    "capture is truncated after frame 48: truncated dump file; tried to read 66 captured bytes, only got 46" "4|1|2"
kept=$(keep)
python3 - "$tmp" <<'EOF'
import struct, sys
d = sys.argv[1]
# pcap of link type 147 (DLT_USER0), one frame
with open(d + "/user0.pcap", "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 147))
    f.write(struct.pack("<IIII", 1700000000, 0, 11, 11) + b"hello world")
# pcapng: section header, interfaces of link types 1 (Ethernet) and 101 (raw IP), a packet on each
def blk(t, body):
    body += b"\0" * (-len(body) % 4)
    return struct.pack("<II", t, 12 + len(body)) + body + struct.pack("<I", 12 + len(body))
def epb(iface, data):
    return blk(6, struct.pack("<IIIII", iface, 0, 0, len(data), len(data)) + data)
ip = b"\x45" + b"\0" * 19
with open(d + "/mixed.pcapng", "wb") as f:
    f.write(blk(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1)) +
            blk(1, struct.pack("<HHI", 1, 0, 65535)) + blk(1, struct.pack("<HHI", 101, 0, 65535)) +
            epb(0, b"\2\0\0\0\0\2\2\0\0\0\0\1\x08\0" + ip) + epb(1, ip))
EOF
bad "pcapng with two link types" "$tmp/mixed.pcapng" \
    "capture cannot be read past frame 0: an interface has a type 101 different from the type of the first interface"
bad "unsupported link type" "$tmp/user0.pcap" \
    "link type 147 (DLT_147) is not supported; smtpsift reads Ethernet, Linux cooked (SLL, SLL2), BSD loopback and raw IP captures"
bad "missing file" "$tmp/nothing.pcap" "cannot read: No such file or directory"
mkdir "$tmp/nocaps"; echo x > "$tmp/nocaps/readme.txt"
bad "directory without captures" "$tmp/nocaps" "no capture files in this directory"
if [ "${as_other[0]:-}" == SKIP ]; then
    echo "SKIP: unreadable file (root without setpriv)"
else
    cp "$samples/multi_txn.pcap" "$tmp/secret.pcap"; chmod 000 "$tmp/secret.pcap"
    cp "$db" "$tmp/keep2.db"; chmod 666 "$tmp/keep2.db"; chmod 777 "$tmp"   # nobody writes this copy
    err=$("${as_other[@]}" "$obin" ingest -q -d "$tmp/keep2.db" "$tmp/secret.pcap" 2>&1); rc=$?
    chmod 755 "$tmp"
    expect_eq "unreadable file exit" 1 $rc
    expect_eq "unreadable file message" "smtpsift: $tmp/secret.pcap: cannot read: Permission denied" "$err"
    expect_eq "unreadable file: rows kept" "$kept" "$(db=$tmp/keep2.db; q "$db" "SELECT (SELECT count(*) FROM messages)||'|'||(SELECT count(*) FROM captures WHERE status='complete')||'|'||(SELECT count(*) FROM sessions)")"
fi
python3 -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('CREATE TABLE t(x)')" "$tmp/other.db"
err=$("$bin" ingest -q -d "$tmp/other.db" "$samples/basic.pcap" 2>&1); rc=$?
expect_eq "foreign database exit" 1 $rc
expect_eq "foreign database message" "smtpsift: $tmp/other.db: not a smtpsift database (it has other tables); use another -d file" "$err"
expect_eq "foreign database untouched" "t" "$(python3 -c "import sqlite3, sys; print(' '.join(r[0] for r in sqlite3.connect(sys.argv[1]).execute('SELECT name FROM sqlite_schema')))" "$tmp/other.db")"
head -c 8192 /dev/zero | tr '\0' 'x' > "$tmp/text.db"
err=$("$bin" ingest -q -d "$tmp/text.db" "$samples/basic.pcap" 2>&1); rc=$?
expect_eq "not SQLite exit" 1 $rc
expect_eq "not SQLite message" "smtpsift: $tmp/text.db: not a SQLite database: file is not a database" "$err"
cp "$db" "$tmp/newer.db"
python3 -c "import sqlite3, sys; sqlite3.connect(sys.argv[1]).execute('PRAGMA user_version=99')" "$tmp/newer.db"
err=$("$bin" ingest -q -d "$tmp/newer.db" "$samples/multi_txn.pcap" 2>&1); rc=$?
expect_eq "newer schema exit" 1 $rc
expect_match "newer schema message" "^smtpsift: $tmp/newer\.db: database schema version 99 is newer than this smtpsift \([0-9]+\); upgrade smtpsift$" "$err"
expect_eq "newer schema: rows kept" "$kept" "$(db=$tmp/newer.db; q "$db" "SELECT (SELECT count(*) FROM messages)||'|'||(SELECT count(*) FROM captures WHERE status='complete')||'|'||(SELECT count(*) FROM sessions)")"

# --- files are private whatever the umask; no temporary file left ---
python3 "$here/safecap.py" mail 300 "$tmp/att.pcap"
mkdir -m 700 "$tmp/priv"
(umask 000; "$bin" ingest -q -d "$tmp/priv/p.db" --extract "$tmp/priv/x" "$tmp/att.pcap")
expect_eq "db mode (umask 000)" 600 "$(stat -c %a "$tmp/priv/p.db")"
expect_eq "extract dir mode (umask 000)" 700 "$(stat -c %a "$tmp/priv/x")"
expect_eq "extracted files: 400, all 0600, named by SHA-256" "400 0 0" \
    "$(find "$tmp/priv/x" -type f | wc -l) $(find "$tmp/priv/x" -type f ! -perm 600 | wc -l) $(ls -A "$tmp/priv/x" | grep -cvE '^[0-9a-f]{64}$')"
(umask 000; "$bin" export -d "$tmp/priv/p.db" --eml "$tmp/priv/eml" >/dev/null 2>&1)
expect_eq "eml dir mode (umask 000)" 700 "$(stat -c %a "$tmp/priv/eml")"
expect_eq "eml files: 400, all 0600" "400 0" \
    "$(find "$tmp/priv/eml" -type f | wc -l) $(find "$tmp/priv/eml" -type f ! -perm 600 | wc -l)"
# The journal (-journal during a file ingest, -wal/-shm otherwise) exists while a run is
# going: look at the files mid-run (SIGKILL keeps them).
(umask 000; SIFT_TEST_KILL_AFTER_COMMIT=2 exec "$bin" ingest -q --store-raw -d "$tmp/priv/k.db" "$tmp/many.pcap") 2>/dev/null
expect_eq "db and its journal files mid-run (umask 000): all 0600" "600 0" \
    "$(stat -c %a "$tmp/priv/k.db") $(find "$tmp/priv" -name 'k.db?*' ! -perm 600 | wc -l)"
(umask 000; "$bin" query -d "$tmp/priv/k.db" "SELECT 1" >/dev/null 2>&1)   # a reader rolls a hot journal back
expect_eq "after SIGKILL mid-run: the database is whole" ok "$(q "$tmp/priv/k.db" "PRAGMA integrity_check")"
# Interrupted while extracting: no temporary file left behind.
(umask 000; "$bin" ingest -q -d "$tmp/priv/i.db" --extract "$tmp/priv/xi" "$tmp/many.pcap" "$tmp/att.pcap" 2>/dev/null & p=$!
 sleep 1; kill -INT $p; wait $p)
expect_eq "after SIGINT: no temporary files" 0 "$(find "$tmp/priv" -name '.smtpsift-*' | wc -l)"
# (a read-only open such as export's leaves empty -wal/-shm files: SQLite's, 0600 too)
expect_eq "everything written is 0600 / 0700" "0 0" \
    "$(find "$tmp/priv" -type f ! -perm 600 | wc -l) $(find "$tmp/priv" -type d ! -perm 700 | wc -l)"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
