#!/bin/bash
# AUTH and STARTTLS sample captures (issue 3): samples/auth_server.py (stdlib socket + ssl, a
# self-signed certificate made here with openssl) on 127.0.0.1:587, driven by swaks from
# 127.0.0.2, recorded with tcpdump on lo. Run as root; called by make_real.sh, or alone.
# Output: samples/auth_plain.pcap, auth_login_failed.pcap, starttls.pcap and their client logs.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=${OUT:-$HERE}
TMP=$(mktemp -d /tmp/smtpsift-proto.XXXXXX)
mkdir -p "$OUT/logs"
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=mx.example.test" \
    -keyout "$TMP/key.pem" -out "$TMP/cert.pem" 2>/dev/null

# cap NAME -- swaks options...
cap() {
    local name=$1; shift 2
    /usr/bin/python3 "$HERE/auth_server.py" 127.0.0.1 587 "$TMP/cert.pem" "$TMP/key.pem" 1 >"$TMP/$name.server.log" 2>&1 &
    local srv=$!
    for _ in $(seq 50); do grep -q listening "$TMP/$name.server.log" && break; sleep 0.1; done
    tcpdump -Z root -U -i lo -s 0 -w "$TMP/$name.pcap" 'tcp port 587' 2>"$TMP/$name.tcpdump.log" &
    local pid=$!
    for _ in $(seq 50); do grep -q listening "$TMP/$name.tcpdump.log" && break; sleep 0.1; done
    sleep 0.5
    swaks --server 127.0.0.1 --port 587 --local-interface 127.0.0.2 --helo client.example.test \
          --from "$name-sender@client.example.test" --to "$name-rcpt@example.test" \
          --header "Subject: smtpsift $name sample" --header "Date: Mon, 06 Jan 2025 12:00:00 +0000" \
          --header "Message-Id: <$name.20250106@client.example.test>" --body "smtpsift $name sample body" \
          "$@" >"$TMP/$name.client.log" 2>&1 || echo "swaks for $name exited $?" >&2
    sleep 1.5
    kill -INT "$pid"; wait "$pid" || true
    wait "$srv" || true
    cp "$TMP/$name.pcap" "$OUT/$name.pcap"
    cp "$TMP/$name.client.log" "$OUT/logs/$name.client.log"
    echo "== $name: $(tcpdump -r "$OUT/$name.pcap" 2>/dev/null | wc -l) packets"
}

cap auth_plain        -- --auth PLAIN --auth-user alice@example.test --auth-password wonderland-42
cap auth_login_failed -- --auth LOGIN --auth-user alice@example.test --auth-password not-the-password
cap starttls          -- --tls --tls-sni mx.example.test
rm -rf "$TMP"
