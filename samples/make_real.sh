#!/bin/bash
# Regenerate the real-MTA sample captures of smtpsift (Debian 12, Postfix 3.7, swaks, smtplib).
# Run as root.  All traffic stays on loopback (127.0.0.2 -> 127.0.0.1, ::1 -> ::1).
# Installs samples/postfix/* into /etc/postfix (main.cf/master.cf are saved as *.smtpsift-orig and
# put back at the end), starts Postfix, records one capture per case, stops Postfix.
# Output: samples/*.pcap, samples/logs/*.client.log, samples/logs/postfix.log.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE}
TMP=$(mktemp -d /tmp/smtpsift-cap.XXXXXX)
PY=/usr/bin/python3          # needs the Debian python (pyenv python on PATH lacks scapy)
CLIENT_V4=127.0.0.2
SERVER_V4=127.0.0.1

# ---- Postfix ---------------------------------------------------------------
postfix status >/dev/null 2>&1 && postfix stop
for f in main.cf master.cf; do
    [ -e /etc/postfix/$f.smtpsift-orig ] || cp -a /etc/postfix/$f /etc/postfix/$f.smtpsift-orig
done
: > /var/log/postfix-smtpsift.log
install -m 644 "$HERE"/postfix/main.cf "$HERE"/postfix/master.cf \
               "$HERE"/postfix/smtpsift_rcpt_access "$HERE"/postfix/smtpsift_header_checks /etc/postfix/
postmap /etc/postfix/smtpsift_rcpt_access
postfix check
postfix start
sleep 2

# ---- messages --------------------------------------------------------------
$PY "$HERE"/smtp_client.py build

env_of() { awk -v n="$1" '$1==n {print $2, $3}' "$HERE"/src/envelopes.txt; }

# cap NAME IFACE BPF-FILTER -- client command...
cap() {
    local name=$1 iface=$2 filter=$3; shift 4
    tcpdump -Z root -U -i "$iface" -s 0 -w "$TMP/$name.pcap" "$filter" 2>"$TMP/$name.tcpdump.log" &
    local pid=$!
    for _ in $(seq 50); do grep -q listening "$TMP/$name.tcpdump.log" && break; sleep 0.1; done
    sleep 0.5
    "$@" >"$TMP/$name.client.log" 2>&1 || echo "client for $name exited $?" >&2
    sleep 1.5                       # let the FIN/ACK exchange finish
    kill -INT "$pid"; wait "$pid" || true
    cp "$TMP/$name.pcap" "$OUT/$name.pcap"
    cp "$TMP/$name.client.log" "$OUT/logs/$name.client.log"
    echo "== $name: $(tcpdump -r "$OUT/$name.pcap" 2>/dev/null | wc -l) packets"
}

# swaks_case NAME SERVER PORT LOCAL [extra swaks options]
swaks_case() {
    local name=$1 server=$2 port=$3 local=$4; shift 4
    read -r from to < <(env_of "$name")
    swaks --server "$server" --port "$port" --local-interface "$local" \
          --helo client.example.test --from "$from" --to "$to" \
          --data - "$@" < <(head -c -2 "$HERE/src/$name.eml")
    # swaks always sends CRLF "." CRLF after the data, so we feed it the message without its
    # final CRLF: the server then receives exactly src/$name.eml.
}

mkdir -p "$OUT/logs"
cap basic             lo 'tcp port 25'    -- swaks_case basic             $SERVER_V4 25 $CLIENT_V4
cap multi_rcpt_reject lo 'tcp port 25'    -- swaks_case multi_rcpt_reject $SERVER_V4 25 $CLIENT_V4
cap multi_txn         lo 'tcp port 25'    -- $PY "$HERE"/smtp_client.py send multi_txn   $SERVER_V4 25 $CLIENT_V4
cap attachments       lo 'tcp port 25'    -- $PY "$HERE"/smtp_client.py send attachments $SERVER_V4 25 $CLIENT_V4
cap pipelining        lo 'tcp port 25'    -- swaks_case pipelining        $SERVER_V4 25 $CLIENT_V4 --pipeline
cap rejected_data     lo 'tcp port 25'    -- swaks_case rejected_data     $SERVER_V4 25 $CLIENT_V4
cap submission_587    lo 'tcp port 587'   -- swaks_case submission_587    $SERVER_V4 587 $CLIENT_V4
cap port_2525         lo 'tcp port 2525'  -- swaks_case port_2525         $SERVER_V4 2525 $CLIENT_V4
cap port_10025        lo 'tcp port 10025' -- swaks_case port_10025        $SERVER_V4 10025 $CLIENT_V4
cap ipv6              lo 'ip6 and tcp port 25' -- swaks_case ipv6         ::1 25 ::1 -6
cap sll2_any          any 'tcp port 25'   -- swaks_case sll2_any          $SERVER_V4 25 $CLIENT_V4
cap dotstuff          lo 'tcp port 25'    -- $PY "$HERE"/smtp_client.py send dotstuff    $SERVER_V4 25 $CLIENT_V4

sleep 1
cp /var/log/postfix-smtpsift.log "$OUT/logs/postfix.log" 2>/dev/null || true
postfix stop
for f in main.cf master.cf; do cp -a /etc/postfix/$f.smtpsift-orig /etc/postfix/$f; done
rm -rf "$TMP"
# AUTH and STARTTLS captures: a small stdlib server on :587 (Postfix is stopped by now).
OUT=$OUT "$HERE"/make_proto.sh
echo "done; captures in $OUT"
