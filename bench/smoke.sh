#!/bin/sh
# smoke.sh — CTest bench_smoke: a 2 MiB bench_gen capture (seed 5) ingested by smtpsift; every
# message the generator marks complete must be found with its exact session 4-tuple, envelope,
# decoded Subject and attachment names, sizes and SHA-256 (bench/check.py). Not a speed test.
# Usage: smoke.sh BENCH_GEN SMTPSIFT
set -eu
gen=$1
sift=$2
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$gen" 2 5 "$tmp/c.pcap" "$tmp/truth.tsv"
# Seed 5 was picked because its capture holds every feature; fail loudly if the generator changes that.
awk -F'\t' 'NR > 2 { n++; if ($2 != "complete") loss++; if ($4 == 6) v6++; if ($15 == "bdat") bdat++
                     if ($14 ~ /Pr..?fbericht/) r2231++; if ($16 != "") auth++; if ($12 ~ /[^ -~]/) utf8++ }
  END { printf "truth: %d messages, %d lossy, %d ipv6, %d bdat, %d rfc2231, %d auth, %d non-ascii subjects\n",
               n, loss, v6, bdat, r2231, auth, utf8
        exit !(n >= 20 && loss >= 1 && v6 >= 1 && bdat >= 1 && r2231 >= 1 && auth >= 1 && utf8 >= 1) }' \
    "$tmp/truth.tsv"
"$sift" ingest -q -d "$tmp/s.db" "$tmp/c.pcap"
rc=0
python3 "$here/check.py" sift "$tmp/s.db" "$tmp/truth.tsv" >"$tmp/out" || rc=$?
cat "$tmp/out"
exit $rc
