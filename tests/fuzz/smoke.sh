#!/bin/sh
# smoke.sh BIN WORKDIR CORPUS [libFuzzer options...] — deterministic CTest run of one
# fuzz target: new inputs go to a fresh WORKDIR (the seed corpus in the source tree
# is only read), crash artifacts to WORKDIR/ too.
set -e
bin=$1; work=$2; corpus=$3; shift 3
rm -rf "$work"
mkdir -p "$work/new"
exec "$bin" "$@" -artifact_prefix="$work/" "$work/new" "$corpus"
