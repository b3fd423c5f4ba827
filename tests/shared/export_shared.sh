#!/bin/bash
# The third-party captures (../shared/pcaps) exported from a database that holds
# no message bytes (read again from the captures) and from one ingested with
# --store-raw: the same .eml files, the same mbox byte for byte (same order),
# the same extracted attachments, every message accounted for.
# Usage: export_shared.sh SMTPSIFT PCAP_DIR   (exit 77 = skipped: no PCAP_DIR)
set -uo pipefail
bin=$1 dir=$2
if [ ! -d "$dir" ]; then echo "skipped: $dir is not there"; exit 77; fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fails=0
check() {  # name expected actual
    if [ "$2" == "$3" ]; then echo "ok   $1"; else echo "FAIL $1: expected [$2] got [$3]"; fails=$((fails + 1)); fi
}
# (one capture of the set is cut inside a record: ingest says so and exits 1)
"$bin" ingest -q -d "$tmp/ref.db" "$dir" 2>/dev/null
"$bin" ingest -q --store-raw -d "$tmp/raw.db" "$dir" 2>/dev/null
n=$("$bin" query --csv -d "$tmp/ref.db" "SELECT count(*) FROM messages WHERE has_content" | tail -n 1 | tr -d '\r')
stored=$("$bin" query --csv -d "$tmp/ref.db" "SELECT count(*) FROM message_raw" | tail -n 1 | tr -d '\r')
check "messages with content; none stored by default" "yes|0" "$([ "$n" -gt 50 ] && echo yes)|$stored"
err=$("$bin" export -d "$tmp/ref.db" --eml "$tmp/ref_eml" --mbox "$tmp/ref.mbox" 2>&1); rc=$?
check "export from the captures: exit 0" 0 $rc
check "export from the captures: all $n read again" "$n of them read again from their capture files" \
    "$(echo "$err" | grep -o "[0-9]* of them read again from their capture files")"
"$bin" export -d "$tmp/raw.db" --eml "$tmp/raw_eml" --mbox "$tmp/raw.mbox" 2>/dev/null
check "the same .eml files" "" "$(diff -r "$tmp/ref_eml" "$tmp/raw_eml")"
check "the same mbox, byte for byte" "$(sha256sum < "$tmp/raw.mbox")" "$(sha256sum < "$tmp/ref.mbox")"
check ".eml names are their SHA-256" 0 \
    "$(cd "$tmp/ref_eml" && for f in *.eml; do [ "$(sha256sum < "$f" | cut -c1-64).eml" = "$f" ] || echo "$f"; done | wc -l)"
"$bin" extract -d "$tmp/ref.db" "$tmp/ref_x" 2>/dev/null; rc=$?
"$bin" extract -d "$tmp/raw.db" "$tmp/raw_x" 2>/dev/null
check "extract from the captures: exit 0, the same attachments" "0|" "$rc|$(diff -r "$tmp/ref_x" "$tmp/raw_x")"
echo "$([ $fails -eq 0 ] && echo "all passed" || echo "$fails failed")"
exit $((fails > 0))
