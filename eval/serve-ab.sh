#!/usr/bin/env bash
# One node on the embedded sled store, two builds A/B: for each pair, each build's `paidan serve`
# runs over a fresh data directory, driven by `paidan loadgen` (the first binary's loadgen for
# both, so the load generator is the same) with Triage and then SubmitComplaint; the builds
# alternate, old first in odd pairs, new first in even ones. Per run and RPC: req/s, p50/p99,
# errors, the server's CPU time per request (what two shared cores bound), and the server's peak
# RSS. For serving changes measured end to end (issue 19's Triage and submit targets).
#
# Usage: bash eval/serve-ab.sh OLD_PAIDAN NEW_PAIDAN [PAIRS]     (release binaries; PAIRS=3)
# Knobs (environment): CLIENTS=32 DURATION=10s DATA=eval/sets/load_texts.jsonl
#                      MODEL_DIR=models/default OUT=target/bench-run/serve-ab
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
    echo "usage: $0 OLD_PAIDAN NEW_PAIDAN [PAIRS]" >&2
    exit 2
fi
OLD=$(realpath "$1")
NEW=$(realpath "$2")
PAIRS=${3:-3}
CLIENTS=${CLIENTS:-32}
DURATION=${DURATION:-10s}
DATA=${DATA:-eval/sets/load_texts.jsonl}
MODEL_DIR=${MODEL_DIR:-models/default}
OUT=${OUT:-target/bench-run/serve-ab}
mkdir -p "$OUT"
ROWS="$OUT/runs.jsonl"
: >"$ROWS"

log() { printf '[serve-ab %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
ticks() { local s; s=$(cut -d' ' -f14,15 "/proc/$1/stat"); echo $((${s% *} + ${s#* })); }

pid=""
dir=""
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "$dir" ] && rm -rf "$dir"
    return 0
}
trap cleanup EXIT

run=0
one() { # NAME BIN
    local name=$1 bin=$2 addr_file addr rpc before after load hwm
    run=$((run + 1))
    dir=$(mktemp -d /tmp/paidan-serve-ab.XXXXXX)
    addr_file="$OUT/addr.$run"
    rm -f "$addr_file"
    PAIDAN_LOG=warn "$bin" serve --addr 127.0.0.1:0 --addr-file "$addr_file" --data-dir "$dir/data" \
        --model-dir "$MODEL_DIR" >"$OUT/serve.$run.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do [ -s "$addr_file" ] && break; sleep 0.1; done
    addr=$(cat "$addr_file")
    # The model loads after the address is written: wait for SERVING before counting CPU.
    "$OLD" loadgen --addr "$addr" --rpc triage --clients 1 --duration 1s --warmup 0s \
        --data "$DATA" --wait-ready 120s >/dev/null 2>&1
    for rpc in triage submit; do
        load=$(cut -d' ' -f1 /proc/loadavg)
        before=$(ticks "$pid")
        "$OLD" loadgen --addr "$addr" --rpc "$rpc" --clients "$CLIENTS" --duration "$DURATION" \
            --data "$DATA" --json "$OUT/loadgen.$run.$rpc.json" >/dev/null 2>&1
        after=$(ticks "$pid")
        hwm=$(awk '$1 == "VmHWM:" { print $2 }' "/proc/$pid/status")
        python3 - "$OUT/loadgen.$run.$rpc.json" "$name" "$run" "$rpc" "$((after - before))" \
            "$(getconf CLK_TCK)" "$load" "$hwm" >>"$ROWS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
name, run, rpc, dt, hz, load, hwm = sys.argv[2:9]
ok = r.get("ok", r.get("requests", 0))
print(json.dumps({
    "run": int(run), "build": name, "rpc": rpc, "load": float(load),
    "rps": r["rps"], "p50_ms": r["p50_ms"], "p99_ms": r["p99_ms"], "errors": r.get("errors"),
    "requests": ok, "server_ms_cpu_per_req": round(int(dt) * 1000 / int(hz) / max(ok, 1), 3),
    "peak_rss_mb": round(int(hwm) / 1024, 1), "loadgen": r,
}))
PY
        log "$(tail -1 "$ROWS" | python3 -c 'import json,sys; r=json.load(sys.stdin); r.pop("loadgen"); print(r)')"
    done
    kill "$pid" && wait "$pid" || true
    pid=""
    rm -rf "$dir"
    dir=""
}

for pair in $(seq "$PAIRS"); do
    if [ $((pair % 2)) -eq 1 ]; then
        one old "$OLD"; one new "$NEW"
    else
        one new "$NEW"; one old "$OLD"
    fi
done

python3 - "$ROWS" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("| run | build | rpc | load | req/s | p50 ms | p99 ms | errors | server ms CPU / request | peak RSS MB |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['run']} | {r['build']} | {r['rpc']} | {r['load']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} "
          f"| {r['errors']} | {r['server_ms_cpu_per_req']:.3f} | {r['peak_rss_mb']} |")
for rpc in ("triage", "submit"):
    for b in ("old", "new"):
        rs = [r for r in rows if r["build"] == b and r["rpc"] == rpc]
        if rs:
            med = lambda k: statistics.median(r[k] for r in rs)
            print(f"\n{rpc} {b}: median req/s {med('rps'):.0f}, p99 {med('p99_ms'):.2f} ms, "
                  f"server {med('server_ms_cpu_per_req'):.3f} ms CPU per request, peak RSS {med('peak_rss_mb')} MB ({len(rs)} runs)")
PY
