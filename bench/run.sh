#!/usr/bin/env bash
# run.sh — the smtpsift benchmark (bench/README.md): generates a capture of SIZE_MB MiB with
# bench_gen into a temporary directory, then on that one file measures the libpcap floor, the
# libnids floor, `smtpsift ingest` (Release build in bench-build/) and tshark's IMF export, each
# under /usr/bin/time -v, and checks what each found against the generator's ground truth.
# Usage: bench/run.sh SIZE_MB [SEED]   (BENCH_KEEP=1 keeps the temp dir; BENCH_TMP=DIR places it;
# BENCH_NO_TSHARK=1 skips tshark)
set -euo pipefail
size=${1:?usage: bench/run.sh SIZE_MB [SEED]}
seed=${2:-1}
here=$(cd "$(dirname "$0")" && pwd)
repo=$(dirname "$here")
build=${BENCH_BUILD:-$repo/bench-build}

cmake -S "$repo" -B "$build" -DCMAKE_BUILD_TYPE=Release -DSIFT_SANITIZE=OFF -DSIFT_WERROR=OFF \
      -DBUILD_TESTING=OFF >/dev/null
cmake --build "$build" -j2 --target smtpsift bench_gen bench_pcap_floor bench_nids_floor >/dev/null

tmp=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/sift-bench.XXXXXX")
if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "keeping $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi
cap=$tmp/capture.pcap
truth=$tmp/truth.tsv

now() { date +%s.%N; }
t0=$(now)
"$build/bench/bench_gen" "$size" "$seed" "$cap" "$truth" 2>"$tmp/gen.err"
t1=$(now)
bytes=$(stat -c %s "$cap")
echo "capture: $bytes bytes, generated in $(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}') s"
sed 's/^bench_gen: /  /' "$tmp/gen.err"
cat "$cap" >/dev/null   # in the page cache for every tool alike

declare -A wall rss load cpu
# measure NAME CMD...: wall time (date, ns), peak RSS (time -v), 1-min load average before.
measure() {
    local name=$1; shift
    load[$name]=$(cut -d' ' -f1 /proc/loadavg)
    local a b
    a=$(now)
    if ! /usr/bin/time -v -o "$tmp/$name.time" "$@" >"$tmp/$name.out" 2>"$tmp/$name.err"; then
        echo "warning: $name exited non-zero (see below)"; tail -3 "$tmp/$name.err"
    fi
    b=$(now)
    wall[$name]=$(awk -v a="$a" -v b="$b" 'BEGIN{printf "%.3f", b-a}')
    rss[$name]=$(awk -F': ' '/Maximum resident set size/{printf "%.1f", $2/1024}' "$tmp/$name.time")
    cpu[$name]=$(awk -F': ' '/User time|System time/{s+=$2} END{printf "%.2f", s}' "$tmp/$name.time")
}

# median NAME PREP CMD...: BENCH_REPEAT runs (default 3; PREP is eval'ed before each), the
# run with the median wall time kept under NAME (its CPU with it), peak RSS the highest of all.
# This VM's runs of the same command vary by +-10 %; the floors are repeated alike.
repeat=${BENCH_REPEAT:-3}
declare -A walls
median() {
    local name=$1 prep=$2; shift 2
    local k runs=() maxrss=0
    for ((k = 1; k <= repeat; k++)); do
        eval "$prep"
        measure "$name.$k" "$@"
        runs+=("${wall[$name.$k]} $k")
        maxrss=$(awk -v a="$maxrss" -v b="${rss[$name.$k]}" 'BEGIN{print (b > a ? b : a)}')
    done
    local mid
    mid=$(printf '%s\n' "${runs[@]}" | sort -n | awk -v m=$(((repeat + 1) / 2)) 'NR==m{print $2}')
    wall[$name]=${wall[$name.$mid]}; cpu[$name]=${cpu[$name.$mid]}; load[$name]=${load[$name.$mid]}
    rss[$name]=$maxrss
    cp "$tmp/$name.$mid.out" "$tmp/$name.out"; cp "$tmp/$name.$mid.err" "$tmp/$name.err"
    walls[$name]=$(printf '%s\n' "${runs[@]}" | awk '{print $1}' | sort -n | paste -sd' ')
}

median pcap_floor : "$build/bench/bench_pcap_floor" "$cap"
median nids_floor : "$build/bench/bench_nids_floor" "$cap"
median smtpsift 'rm -f "$tmp"/sift.db*' "$build/smtpsift" ingest -q -d "$tmp/sift.db" "$cap"
have_tshark=0
if [ "${BENCH_NO_TSHARK:-0}" != 1 ] && command -v tshark >/dev/null; then
    have_tshark=1
    mkdir -p "$tmp/imf"
    measure tshark tshark -r "$cap" -q --export-objects "imf,$tmp/imf"
fi

echo "floors: pcap: $(cat "$tmp/pcap_floor.out")"
echo "        nids: $(cat "$tmp/nids_floor.out")"
python3 "$here/check.py" sift "$tmp/sift.db" "$truth" >"$tmp/sift.check" 2>"$tmp/sift.mismatch" || true
kv() { awk -F= -v k="$2" '$1==k{print $2}' "$1"; }
found_sift="$(kv "$tmp/sift.check" found)/$(kv "$tmp/sift.check" expected)"
found_tshark="-"
if [ $have_tshark = 1 ]; then
    python3 "$here/check.py" tshark "$tmp/imf" "$truth" >"$tmp/tshark.check" 2>/dev/null || true
    found_tshark="$(kv "$tmp/tshark.check" found)/$(kv "$tmp/tshark.check" expected) ($(kv "$tmp/tshark.check" eml_files) .eml)"
fi

mbps() { awk -v b="$bytes" -v t="$1" 'BEGIN{if (t < 0.005) t = 0.005; printf "%.1f", b/1e6/t}'; }
nids_t=${wall[nids_floor]}
# wall: elapsed time; cpu: user+sys seconds (steadier than wall when the machine is shared).
printf '\n%-11s %8s %8s %8s %8s %8s %10s %11s %6s  %s\n' tool wall_s MB/s x_nids cpu_s cpuMB/s x_nids_cpu peak_RSS_MB load1 \
    found/expected
for t in pcap_floor nids_floor smtpsift tshark; do
    [ -n "${wall[$t]:-}" ] || continue
    f="-"
    [ $t = smtpsift ] && f=$found_sift
    [ $t = tshark ] && f=$found_tshark
    printf '%-11s %8s %8s %8s %8s %8s %10s %11s %6s  %s\n' "$t" "${wall[$t]}" "$(mbps "${wall[$t]}")" \
        "$(awk -v n="$nids_t" -v t="${wall[$t]}" 'BEGIN{printf "%.3f", n/t}')" "${cpu[$t]}" \
        "$(mbps "${cpu[$t]}")" "$(awk -v n="${cpu[nids_floor]}" -v t="${cpu[$t]}" 'BEGIN{if (t < 0.005) t = 0.005; printf "%.3f", n/t}')" \
        "${rss[$t]}" "${load[$t]}" "$f"
done
echo "wall times of the $repeat runs (s): pcap floor ${walls[pcap_floor]}; nids floor ${walls[nids_floor]};" \
     "smtpsift ${walls[smtpsift]}"
if [ -n "${wall[tshark]:-}" ]; then
    echo "smtpsift / tshark throughput: $(awk -v s="${wall[smtpsift]}" -v t="${wall[tshark]}" 'BEGIN{printf "%.1f", t/s}')x"
fi
dbsize=0
for f in "$tmp/sift.db" "$tmp/sift.db-wal"; do [ -f "$f" ] && dbsize=$((dbsize + $(stat -c %s "$f"))); done
echo "database: $dbsize bytes = $(awk -v d="$dbsize" -v b="$bytes" 'BEGIN{printf "%.3f", d/b}') of the capture"
echo "smtpsift check: $(tr '\n' ' ' <"$tmp/sift.check")"
if [ -s "$tmp/sift.mismatch" ]; then head -10 "$tmp/sift.mismatch"; fi
echo "queries (median of 5):"
python3 "$here/check.py" queries "$tmp/sift.db" "$truth" | sed 's/^/  /'

# The capture is the store: message bytes are read again from the capture on export.
# One message (--id, the address-filtered pass), then all of them; every .eml must be named
# by its own SHA-256 and there must be one per message with content.
one=$("$build/smtpsift" query --csv -d "$tmp/sift.db" \
      "SELECT id FROM messages WHERE has_content ORDER BY size DESC LIMIT 1 OFFSET 100" | tail -n +2 | tr -d '\r')
measure export_one "$build/smtpsift" export -d "$tmp/sift.db" --eml "$tmp/eml_one" --id "$one"
measure export_all "$build/smtpsift" export -d "$tmp/sift.db" --eml "$tmp/eml_all"
want=$("$build/smtpsift" query --csv -d "$tmp/sift.db" "SELECT count(DISTINCT sha256) FROM messages WHERE has_content" \
       | tail -n +2 | tr -d '\r')
good=$(cd "$tmp/eml_all" && for f in *.eml; do sha256sum "$f"; done | awk '{ if ($1 ".eml" == $2) n++ } END { print n + 0 }')
echo "export: one message (id $one) ${wall[export_one]} s, ${rss[export_one]} MB; all ${wall[export_all]} s," \
     "${rss[export_all]} MB: $good of $want distinct messages written, each named by its SHA-256"
