#!/bin/sh
# run.sh BUILD_DIR [CAPTURE_DIR...] — valgrind memcheck over every unit test binary
# of BUILD_DIR and an ingest of each capture in samples/ and ../shared/pcaps (or the
# directories given). Build without sanitizers (-DSIFT_SANITIZE=OFF). Any memcheck
# error or definite/possible leak fails the run (valgrind exit code 97; smtpsift's
# own exit code 1 for a truncated or unreadable capture is not a failure here).
set -u
build=${1:?usage: run.sh BUILD_DIR [CAPTURE_DIR...]}
shift
root=$(cd "$(dirname "$0")/../.." && pwd)
[ $# -gt 0 ] || set -- "$root/samples" "$root/../shared/pcaps"
command -v valgrind >/dev/null || { echo "valgrind not installed"; exit 1; }
export G_SLICE=always-malloc G_DEBUG=gc-friendly CMOCKA_TEST_ABORT=1 SIFT_VALGRIND=1
VG="valgrind -q --error-exitcode=97 --leak-check=full --show-leak-kinds=definite,possible
    --errors-for-leak-kinds=definite,possible --track-origins=yes --num-callers=30"
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
fail=0 n=0

run() {   # run NAME CMD... ; valgrind's report goes to $tmp/log
    n=$((n + 1))
    $VG --log-file="$tmp/log" "$@" >"$tmp/out" 2>&1
    rc=$?
    if [ $rc -eq 97 ] || [ $rc -gt 128 ] || [ -s "$tmp/log" ]; then
        echo "FAIL ($rc): $*"; cat "$tmp/log"; tail -5 "$tmp/out"; fail=$((fail + 1))
    fi
}

for t in "$build"/test_*; do
    [ -x "$t" ] && [ -f "$t" ] || continue
    run "$t"
done
bin="$build/smtpsift"
for d in "$@"; do
    [ -d "$d" ] || { echo "skip $d (not a directory)"; continue; }
    for f in "$d"/*.pcap "$d"/*.pcapng "$d"/*.cap; do
        [ -f "$f" ] || continue
        rm -f "$tmp/db" "$tmp/db-wal" "$tmp/db-shm"
        run "$bin" ingest -q -d "$tmp/db" "$f"
    done
done
# export and extract read the messages of samples/ again from their captures (rebuild.c)
rm -f "$tmp/db" "$tmp/db-wal" "$tmp/db-shm"
"$bin" ingest -q -d "$tmp/db" "$root/samples"
run "$bin" export -d "$tmp/db" --eml "$tmp/eml" --mbox "$tmp/mbox"
run "$bin" extract -d "$tmp/db" "$tmp/x"
echo "valgrind: $n runs, $fail with errors"
[ $fail -eq 0 ]
