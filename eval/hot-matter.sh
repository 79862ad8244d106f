#!/usr/bin/env bash
# One matter reported thousands of times (a water cut, a blocked road: many callers, one
# incident), builds side by side: each build serves a fresh store with no forwarding sink (the
# README's run command: events wait in the outbox), and 8 clients submit reports of that one
# matter (eval/sets/hot_matter.jsonl, 5 wordings of one water cut, written for this bench) for
# ROUNDS rounds of DURATION each. Each row is one round: req/s, p50/p99, the reports linked so
# far, and the store's size (sled: its directory; PostgreSQL: the database). A cost per link
# that grows with the matter shows as falling rounds.
#
#   bash eval/hot-matter.sh ROUNDS BIN [BIN...]        DURATION=15s CLIENTS=8
#   STORE=pg bash eval/hot-matter.sh ROUNDS BIN...     (a throwaway PostgreSQL, a database a build)
set -euo pipefail
cd "$(dirname "$0")/.."
STORE=${STORE:-sled}
if [[ $STORE == pg && -z ${PAIDAN_TEST_PG_URL:-} ]]; then
    exec scripts/pg-throwaway.sh bash "$0" "$@"
fi
ROUNDS=$1
shift
DURATION=${DURATION:-15s}
CLIENTS=${CLIENTS:-8}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
PSQL="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/psql"
[[ -x $PSQL ]] || PSQL=psql
printf '%-28s %5s %8s %9s %9s %8s %9s\n' bin round req_s p50_ms p99_ms reports store_mb
n=0
for bin in "$@"; do
    n=$((n + 1))
    rm -rf "$TMP/data" "$TMP/addr"
    if [[ $STORE == pg ]]; then
        db="hot_${n}_$$"
        "$PSQL" "$PAIDAN_TEST_PG_URL" -qc "CREATE DATABASE $db" >/dev/null
        where=(--store-url "${PAIDAN_TEST_PG_URL%/*}/$db")
        size() { "$PSQL" "$PAIDAN_TEST_PG_URL" -Atc "SELECT pg_database_size('$db') / 1048576"; }
    else
        where=(--data-dir "$TMP/data")
        size() { du -sm "$TMP/data" | cut -f1; }
    fi
    PAIDAN_LOG=warn "$bin" serve --addr 127.0.0.1:0 "${where[@]}" --model-dir models/default \
        --addr-file "$TMP/addr" 2>>"$TMP/server.log" &
    pid=$!
    until [[ -s "$TMP/addr" ]]; do
        kill -0 "$pid" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
        sleep 0.1
    done
    total=0
    for r in $(seq "$ROUNDS"); do
        "$bin" loadgen --addr "$(cat "$TMP/addr")" --rpc submit --clients "$CLIENTS" \
            --duration "$DURATION" --warmup 0s --data eval/sets/hot_matter.jsonl \
            --jurisdiction 海口市 --json "$TMP/l.json" >/dev/null
        total=$((total + $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["requests"])' "$TMP/l.json")))
        python3 - "$TMP/l.json" "$(basename "$bin")" "$r" "$total" "$(size)" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))
name, r, total, mb = sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]
print(f"{name:<28} {r:>5} {l['rps']:8.0f} {l['p50_ms']:9.1f} {l['p99_ms']:9.1f} {total:8d} {mb:>9}")
PY
    done
    kill -TERM "$pid"
    wait "$pid" || true
done
