#!/bin/sh
# Installs what smtpsift needs to build and test on Debian 12 (run as root or with sudo).
set -e
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
# postfix: the live-capture test runs a private instance of its own (tests/live); the system
# one is left unconfigured, so the install asks nothing and starts no MTA
echo "postfix postfix/main_mailer_type select No configuration" | $SUDO debconf-set-selections
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
    build-essential cmake pkg-config ca-certificates \
    libpcap-dev libnids-dev libgmime-3.0-dev libsqlite3-dev libssl-dev libcmocka-dev libmagic-dev \
    libpsl-dev publicsuffix libicu-dev \
    sqlite3 python3 \
    clang libclang-rt-14-dev valgrind \
    chromium postfix >/dev/null
# chromium: the report --html test renders the page headless (about 25 s to install)
