#!/bin/bash
# search / export / extract (issue 4) on the committed samples: attachment
# hashes as sha256sum/md5sum/sha1sum give them for samples/src/attachments,
# .eml files byte for byte and named by their SHA-256, mboxrd quoting, modes
# 0600/0700, the full-text index consistent after rows are deleted.
set -uo pipefail
bin=$1
samples=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0 passes=0
ok()   { passes=$((passes + 1)); }
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_eq() { if [ "$2" == "$3" ]; then ok; else fail "$1: expected [$2] got [$3]"; fi; }
q() { "$bin" query --csv -d "$1" "$2" | tail -n +2 | tr -d '\r'; }

db=$tmp/c.db
"$bin" ingest -q -d "$db" --extract "$tmp/x" "$samples/attachments.pcap" "$samples/basic.pcap"
expect_eq "ingest --extract exit" 0 $?
# independent values: md5sum / sha1sum / sha256sum of samples/src/attachments/*
expect_eq "attachment hashes" \
"sample-20k.bin,a6874b90e54d4fd308ac6e4d0920ae51,84e5c9a97d42da9302da5db0387e1e3b0dc057ba,f8e0cdd30b4bc93570308670ea7906b0f638eff0e6ca21445120f8a593d83f4b,application/octet-stream
Übersicht-Q3.pdf,483f189512107eed30b51010059c7023,ef8f6b64f71bd67b10e51c06ff5b1303dbf037e2,0bf874f0434ac6b27d569d5f02f80231dd32418103bcbd8e45bd8401ee52930a,application/pdf" \
    "$(q "$db" "SELECT filename, md5, sha1, sha256, magic_type FROM parts WHERE is_attachment ORDER BY seq")"
expect_eq "extract dir mode" 700 "$(stat -c %a "$tmp/x")"
expect_eq "extracted files" "0bf874f0434ac6b27d569d5f02f80231dd32418103bcbd8e45bd8401ee52930a f8e0cdd30b4bc93570308670ea7906b0f638eff0e6ca21445120f8a593d83f4b" \
    "$(ls "$tmp/x" | tr '\n' ' ' | sed 's/ $//')"
expect_eq "extracted bytes" "$(cat "$samples/src/attachments/uebersicht-q3.pdf" | sha256sum)" \
    "$(cat "$tmp/x/0bf874f0434ac6b27d569d5f02f80231dd32418103bcbd8e45bd8401ee52930a" | sha256sum)"
expect_eq "extracted file mode" 600 "$(stat -c %a "$tmp/x/f8e0cdd30b4bc93570308670ea7906b0f638eff0e6ca21445120f8a593d83f4b")"
expect_eq "extracted_path" "f8e0cdd30b4bc93570308670ea7906b0f638eff0e6ca21445120f8a593d83f4b" \
    "$(q "$db" "SELECT extracted_path FROM parts WHERE filename='sample-20k.bin'")"

# extract afterwards, from the stored bytes
"$bin" ingest -q -d "$tmp/d.db" "$samples/attachments.pcap"
expect_eq "no extraction without --extract" 0 "$(q "$tmp/d.db" "SELECT count(*) FROM parts WHERE extracted_path IS NOT NULL")"
"$bin" extract -d "$tmp/d.db" "$tmp/y" 2>/dev/null
expect_eq "extract exit" 0 $?
expect_eq "extract: same files" "$(ls "$tmp/x")" "$(ls "$tmp/y")"
expect_eq "extract: paths recorded" 2 "$(q "$tmp/d.db" "SELECT count(*) FROM parts WHERE extracted_path = sha256")"

# search
out=$("$bin" search -d "$db" Quartalsbericht 2>&1)
expect_eq "search subject/body" 1 "$(printf '%s\n' "$out" | grep -c '^1  .*juergen.mueller@client.example.test  Grüße – Quartalsbericht$')"
expect_eq "search snippet" 1 "$(printf '%s\n' "$out" | grep -c '\[Quartalsbericht\]')"
expect_eq "search filename" "    [sample]-20k.bin Übersicht-Q3.pdf" "$("$bin" search -d "$db" 'filenames:sample*' | sed -n 2p)"
expect_eq "search diacritics folded" 1 "$("$bin" search -d "$db" uebersicht OR ubersicht | grep -c '^1 ')"
"$bin" search -d "$db" 'AND AND' >/dev/null 2>&1; expect_eq "search syntax error exit" 1 $?
"$bin" search -d "$db" >/dev/null 2>&1; expect_eq "search without terms exit" 2 $?

# export --eml: byte for byte, named by SHA-256
"$bin" export -d "$db" --eml "$tmp/eml" 2>/dev/null; expect_eq "export exit" 0 $?
expect_eq "eml dir mode" 700 "$(stat -c %a "$tmp/eml")"
n=0; bad=0
for f in "$tmp"/eml/*.eml; do
    n=$((n + 1))
    [ "$(sha256sum < "$f" | cut -c1-64).eml" == "$(basename "$f")" ] || bad=$((bad + 1))
    [ "$(stat -c %a "$f")" == 600 ] || bad=$((bad + 1))
done
expect_eq "eml files" "2 0" "$n $bad"
expect_eq "eml names are messages.sha256" "$(q "$db" "SELECT sha256||'.eml' FROM messages ORDER BY sha256")" "$(ls "$tmp/eml")"

# export --mbox: mboxrd quoting; From line with envelope sender and packet time (UTC)
# (a database that holds the bytes, --store-raw, so that one message can be rewritten)
"$bin" ingest -q --store-raw -d "$tmp/m.db" "$samples/attachments.pcap" "$samples/basic.pcap"
sqlite3 "$tmp/m.db" "UPDATE message_raw SET data = CAST('Subject: q' || char(13,10,13,10) || 'From here' || char(10) || '>From there' || char(10) || 'Fromage' || char(10) || 'x' AS BLOB) WHERE message_id = (SELECT max(message_id) FROM message_raw)"
"$bin" export -d "$tmp/m.db" --mbox "$tmp/out.mbox" 2>/dev/null
expect_eq "mbox exit" 0 $?
ts=$(q "$db" "SELECT CAST(start_ts AS INTEGER) FROM messages ORDER BY id LIMIT 1")
expect_eq "mbox first From line" "From juergen.mueller@client.example.test $(TZ=UTC date -d @"$ts" '+%a %b %e %H:%M:%S %Y')" "$(head -1 "$tmp/out.mbox")"
expect_eq "mbox quoting" ">From here
>>From there
Fromage
x" "$(tail -n 5 "$tmp/out.mbox")"
expect_eq "mbox: newline added, blank line after" "780a0a" "$(tail -c 3 "$tmp/out.mbox" | od -An -tx1 | tr -d ' \n')"
expect_eq "mbox messages" 2 "$(python3 -c "import mailbox,sys; print(len(mailbox.mbox(sys.argv[1])))" "$tmp/out.mbox")"

# the full-text index stays consistent when messages are deleted (cascade from captures)
sqlite3 "$tmp/m.db" "PRAGMA foreign_keys=ON; DELETE FROM captures WHERE path LIKE '%basic.pcap'; INSERT INTO message_search(message_search) VALUES('integrity-check');"
expect_eq "fts integrity after delete" 0 $?
expect_eq "fts rows after delete" 1 "$(sqlite3 "$tmp/m.db" "SELECT count(*) FROM message_search WHERE message_search MATCH 'Quartalsbericht OR basic'")"

echo "$passes passed, $fails failed"
[ "$fails" -eq 0 ]
