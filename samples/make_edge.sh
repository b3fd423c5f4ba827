#!/bin/bash
# Edge-case sample captures (issue 3). Usage: make_edge.sh [edge|ext]
#   edge (default): BDAT/CHUNKING (RFC 3030), an SMTP smuggling attempt (<LF>.<LF> inside
#        DATA, CVE-2023-51764 class) and content sent after a refused DATA;
#   ext: SMTPUTF8 (RFC 6531), 8BITMIME (RFC 6152) and Postfix XCLIENT
#        (smtpd_authorized_xclient_hosts = 127.0.0.0/8, in the private instance only).
# A PRIVATE Postfix instance (own config/queue/data dirs under $PFDIR, samples/postfix/* with
# paths rewritten, only an smtpd on 127.0.0.1:$PORT) is driven by smtp_raw_client.py from
# 127.0.0.2 and recorded with tcpdump on lo. It does not touch /etc/postfix or the system
# instance. Run as root. Output: samples/<case>.pcap, logs/<case>.client.log,
# logs/<set>-postfix.log, logs/<set>-postconf.txt.
set -euo pipefail
SET=${1:-edge}
case $SET in
    edge) CASES="bdat smuggle data_refused data_refused_hdr"; EXTRA=(); SHOW="" ;;
    ext)  CASES="smtputf8 eightbit xclient"
          EXTRA=("smtpd_authorized_xclient_hosts = 127.0.0.0/8")   # XCLIENT: this instance only
          SHOW="smtputf8_enable smtpd_authorized_xclient_hosts" ;;
    *)    echo "usage: $0 [edge|ext]" >&2; exit 2 ;;
esac
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE}
PORT=${PORT:-25}
PFDIR=${PFDIR:-/tmp/smtpsift-$SET-pf}
TMP=$(mktemp -d /tmp/smtpsift-$SET.XXXXXX)
mkdir -p "$OUT/logs"

# ---- private Postfix instance ------------------------------------------------
postfix -c "$PFDIR/etc" stop 2>/dev/null || true
rm -rf "$PFDIR"; mkdir -p "$PFDIR/etc" "$PFDIR/queue" "$PFDIR/data"
chown postfix "$PFDIR/data"
sed "s#/etc/postfix/#$PFDIR/etc/#g" "$HERE/postfix/main.cf" > "$PFDIR/etc/main.cf"
: > "/var/log/postfix-smtpsift-$SET.log"
postconf -c "$PFDIR/etc" -e "queue_directory = $PFDIR/queue" "data_directory = $PFDIR/data" \
    "inet_interfaces = 127.0.0.1" "inet_protocols = ipv4" \
    "maillog_file = /var/log/postfix-smtpsift-$SET.log" \
    ${EXTRA[@]+"${EXTRA[@]}"}    # maillog_file must match maillog_file_prefixes
# master.cf: the Postfix one minus the extra listeners, smtpd on 127.0.0.1:$PORT
awk -v port="$PORT" '
    /^(submission|2525|10025) /   { skip = 1; next }
    skip && /^[ \t]/              { next }
    { skip = 0 }
    /^smtp +inet/                 { sub(/^smtp /, "127.0.0.1:" port " ") }
    { print }' "$HERE/postfix/master.cf" > "$PFDIR/etc/master.cf"
cp "$HERE/postfix/smtpsift_rcpt_access" "$HERE/postfix/smtpsift_header_checks" "$PFDIR/etc/"
postmap "$PFDIR/etc/smtpsift_rcpt_access"
postfix -c "$PFDIR/etc" check
postfix -c "$PFDIR/etc" start
sleep 2
postconf -c "$PFDIR/etc" mail_version smtpd_forbid_bare_newline smtpd_forbid_bare_newline_exclusions \
    mynetworks smtpd_discard_ehlo_keywords $SHOW > "$OUT/logs/$SET-postconf.txt"

# cap NAME -- runs smtp_raw_client.py NAME against the instance, recorded on lo
cap() {
    local name=$1
    tcpdump -Z root -U -i lo -s 0 -w "$TMP/$name.pcap" "tcp port $PORT" 2>"$TMP/$name.tcpdump.log" &
    local pid=$!
    for _ in $(seq 50); do grep -q listening "$TMP/$name.tcpdump.log" && break; sleep 0.1; done
    sleep 0.5
    /usr/bin/python3 "$HERE/smtp_raw_client.py" run "$name" 127.0.0.1 "$PORT" 127.0.0.2 \
        >"$TMP/$name.client.log" 2>&1 || echo "client for $name exited $?" >&2
    sleep 1.5
    kill -INT "$pid"; wait "$pid" || true
    cp "$TMP/$name.pcap" "$OUT/$name.pcap"
    cp "$TMP/$name.client.log" "$OUT/logs/$name.client.log"
    echo "== $name: $(tcpdump -r "$OUT/$name.pcap" 2>/dev/null | wc -l) packets"
}

for c in $CASES; do cap "$c"; done

sleep 1
cp "/var/log/postfix-smtpsift-$SET.log" "$OUT/logs/$SET-postfix.log" 2>/dev/null || true
postfix -c "$PFDIR/etc" stop
rm -rf "$TMP"
echo "done; captures in $OUT (instance files left in $PFDIR)"
