#!/usr/bin/env bash
# SubmitComplaint over the kept 1M-case store, builds alternating: each run serves a fresh copy of
# the store (the live submits move its window to today, so a copy serves one run only), drives
# 32 clients for DURATION with `paidan loadgen`, and reports req/s, p50/p99 and the server's CPU
# seconds per request. What eval/bench.sh's "submit over the 1M store" row measures, A/B.
#
#   bash eval/submit-big-ab.sh ROUNDS OLD_BIN NEW_BIN [...]
#   STORE=target/bench-run/dedup-index  COPY=/work/submit-big-copy  DURATION=15s
#
# A BIN may be BIN:CONFIG, serving with `--config CONFIG` (one build, two settings: e.g.
# `target/release/paidan target/release/paidan:eval/store-cache-32.toml`). peak_rss_mb is the
# server's VmHWM at the end of the run.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=$1
shift
STORE=${STORE:-target/bench-run/dedup-index}
COPY=${COPY:-/work/submit-big-copy}
DURATION=${DURATION:-15s}
TMP=$(mktemp -d)
trap 'rm -rf "$TMP" "$COPY"' EXIT
printf '%-5s %-40s %8s %9s %9s %12s %12s\n' round bin req_s p50_ms p99_ms cpu_ms_req peak_rss_mb
for r in $(seq "$ROUNDS"); do
    for arg in "$@"; do
        bin=${arg%%:*}
        config=()
        [[ "$arg" == *:* ]] && config=(--config "${arg#*:}")
        rm -rf "$COPY" && cp -r "$STORE" "$COPY"
        rm -f "$TMP/addr"
        PAIDAN_LOG=warn "$bin" serve "${config[@]}" --addr 127.0.0.1:0 --data-dir "$COPY" --model-dir models/default \
            --addr-file "$TMP/addr" 2>>"$TMP/server.log" &
        pid=$!
        until [[ -s "$TMP/addr" ]]; do
            kill -0 "$pid" 2>/dev/null || { cat "$TMP/server.log" >&2; exit 1; }
            sleep 0.1
        done
        ticks() { awk '{ print $14 + $15 }' "/proc/$pid/stat"; }
        t0=$(ticks)
        "$bin" loadgen --addr "$(cat "$TMP/addr")" --rpc submit --clients 32 --duration "$DURATION" \
            --data eval/sets/load_texts.jsonl --json "$TMP/l.json" >/dev/null
        t1=$(ticks)
        hwm=$(awk '/^VmHWM/ { print $2 }' "/proc/$pid/status")
        kill -TERM "$pid"
        wait "$pid" || true
        name=$(basename "$bin")${config:+:$(basename "${arg#*:}")}
        python3 - "$TMP/l.json" "$r" "$name" "$((t1 - t0))" "$(getconf CLK_TCK)" "$hwm" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))
r, name, ticks, hz = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
hwm_mb = int(sys.argv[6]) / 1024
ok = l["requests"]
rate = l["rps"]
def ms(k):
    v = l.get(k)
    return float("nan") if v is None else v
cpu = 1000 * ticks / hz / ok if ok else float("nan")
print(f"{r:<5} {name:<40} {rate:8.0f} {ms('p50_ms'):9.1f} {ms('p99_ms'):9.1f} {cpu:12.3f} {hwm_mb:12.0f}")
PY
    done
done
