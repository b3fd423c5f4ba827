#!/bin/bash
# Golden test: ingest one capture into a fresh database, dump it canonically
# (tests/golden/dump.sql) and compare with the expected file. With
# SIFT_UPDATE_GOLDEN=1 the expected file is (re)written instead — review the
# diff by eye against samples/EXPECTED.md before committing it.
set -euo pipefail
bin=$1 capture=$2 expected=$3
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$bin" ingest -q -d "$tmp/g.db" "$capture"
"$bin" query --csv -d "$tmp/g.db" -- "$(cat "$here/dump.sql")" > "$tmp/out.csv"
if [ "${SIFT_UPDATE_GOLDEN:-0}" = 1 ]; then
    cp "$tmp/out.csv" "$expected"
    echo "updated $expected"
    exit 0
fi
diff -u "$expected" "$tmp/out.csv"
