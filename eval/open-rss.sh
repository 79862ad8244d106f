#!/usr/bin/env bash
# Serving memory of `paidan serve` once a store is open, before any request: for each BIN=STORE
# pair, start the server on the store (the store is used as is: pass copies), wait until it
# listens and then SETTLE seconds (the deadline watch's first pass runs at start), and report the
# seconds to listen, VmRSS, VmHWM and RssAnon. The server is stopped with SIGTERM (a clean close:
# the band index snapshot is written back, so the next open of the store takes it too).
#
#   bash eval/open-rss.sh OLD_BIN=STORE_COPY_A NEW_BIN=STORE_COPY_B [...]
#   SETTLE=30 (default) MODEL_DIR=models/default (default)
set -euo pipefail
cd "$(dirname "$0")/.."
SETTLE=${SETTLE:-30}
MODEL_DIR=${MODEL_DIR:-models/default}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }
printf '%-28s %-28s %8s %9s %9s %9s\n' bin store listen_s rss_mb hwm_mb anon_mb
for pair in "$@"; do
    bin=${pair%%=*} store=${pair#*=}
    rm -f "$TMP/addr"
    started=$(date +%s.%N)
    PAIDAN_LOG=${PAIDAN_LOG:-info} "$bin" serve --addr 127.0.0.1:0 --data-dir "$store" \
        --model-dir "$MODEL_DIR" --addr-file "$TMP/addr" 2>>"$TMP/server.log" &
    pid=$!
    until [[ -s "$TMP/addr" ]]; do
        kill -0 "$pid" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
        sleep 0.1
    done
    listen=$(echo "$(date +%s.%N) - $started" | bc)
    sleep "$SETTLE"
    printf '%-28s %-28s %8.1f %9.0f %9.0f %9.0f\n' "$(basename "$bin")" "$(basename "$store")" "$listen" \
        "$(echo "$(kb "$pid" VmRSS) / 1024" | bc -l)" "$(echo "$(kb "$pid" VmHWM) / 1024" | bc -l)" \
        "$(echo "$(kb "$pid" RssAnon) / 1024" | bc -l)"
    kill -TERM "$pid"
    wait "$pid" || true
done
grep -E "deadline|band index ready|built" "$TMP/server.log" | sed 's/^/  log: /' >&2 || true
