#!/usr/bin/env bash
# One node on PostgreSQL, two builds A/B (issue 18's single-node target: >= 1,000
# SubmitComplaint/s at 32 clients, p99 <= 50 ms): for each pair, each build's `paidan serve`
# runs on a fresh database of one throwaway PostgreSQL (scripts/pg-throwaway.sh, fsync off),
# driven by `paidan loadgen --rpc submit` (the first binary's loadgen for both, so the load
# generator is the same); the builds alternate, old first in odd pairs, new first in even ones.
# Per run: req/s, p50/p99, errors, and the CPU time of the server and of every PostgreSQL
# process over the load, divided by the cases stored (ms per case): what bounds the target on
# two shared cores.
#
# Usage: bash eval/pg-one.sh OLD_PAIDAN NEW_PAIDAN [PAIRS]     (release binaries; PAIRS=4)
# Knobs (environment): CLIENTS=32 DURATION=10s DATA=eval/sets/load_texts.jsonl
#                      MODEL_DIR=models/default OUT=target/bench-run/pg-one
#                      NEW_SQL='…' (run on the new build's database once its server is up: an
#                      experiment on the schema, e.g. dropping an index, with the same binary twice)
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ]; then
    echo "usage: $0 OLD_PAIDAN NEW_PAIDAN [PAIRS]" >&2
    exit 2
fi
if [ -z "${PAIDAN_TEST_PG_URL:-}" ]; then
    exec scripts/pg-throwaway.sh bash "$0" "$@"
fi

OLD=$(realpath "$1")
NEW=$(realpath "$2")
PAIRS=${3:-4}
CLIENTS=${CLIENTS:-32}
DURATION=${DURATION:-10s}
DATA=${DATA:-eval/sets/load_texts.jsonl}
MODEL_DIR=${MODEL_DIR:-models/default}
OUT=${OUT:-target/bench-run/pg-one}
mkdir -p "$OUT"
ROWS="$OUT/runs.jsonl"
: >"$ROWS"
PSQL="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)/psql"
[ -x "$PSQL" ] || PSQL=psql

log() { printf '[pg-one %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# utime + stime of the given pids, in clock ticks (processes gone meanwhile count 0).
ticks() {
    local t=0 p s
    for p in "$@"; do
        s=$(cut -d' ' -f14,15 "/proc/$p/stat" 2>/dev/null) || continue
        t=$((t + ${s% *} + ${s#* }))
    done
    echo "$t"
}
pg_pids() { pgrep -x postgres || true; }

run=0
one() { # NAME BIN
    local name=$1 bin=$2 db url addr_file pid addr before_s before_pg after_s after_pg cases load
    run=$((run + 1))
    db="pgone_${run}_$$"
    "$PSQL" "$PAIDAN_TEST_PG_URL" -qc "CREATE DATABASE $db" >/dev/null
    url="${PAIDAN_TEST_PG_URL%/*}/$db"
    addr_file="$OUT/addr.$run"
    rm -f "$addr_file"
    "$bin" serve --addr 127.0.0.1:0 --addr-file "$addr_file" --store-url "$url" \
        --model-dir "$MODEL_DIR" >"$OUT/serve.$run.log" 2>&1 &
    pid=$!
    for _ in $(seq 600); do [ -s "$addr_file" ] && break; sleep 0.1; done
    addr=$(cat "$addr_file")
    # The model loads after the address is written: wait for SERVING before counting CPU.
    "$OLD" loadgen --addr "$addr" --rpc triage --clients 1 --duration 1s --warmup 0s \
        --data "$DATA" --wait-ready 120s >/dev/null 2>&1
    if [ "$name" = new ] && [ -n "${NEW_SQL:-}" ]; then
        "$PSQL" "$url" -qc "$NEW_SQL" >/dev/null
    fi
    load=$(cut -d' ' -f1 /proc/loadavg)
    before_s=$(ticks "$pid")
    # shellcheck disable=SC2046
    before_pg=$(ticks $(pg_pids))
    "$OLD" loadgen --addr "$addr" --rpc submit --clients "$CLIENTS" --duration "$DURATION" \
        --data "$DATA" --json "$OUT/loadgen.$run.json" >/dev/null 2>&1
    after_s=$(ticks "$pid")
    # shellcheck disable=SC2046
    after_pg=$(ticks $(pg_pids))
    cases=$("$PSQL" "$url" -tAc "SELECT count(*) FROM cases")
    kill "$pid" && wait "$pid" || true
    python3 - "$OUT/loadgen.$run.json" "$name" "$run" "$cases" "$((after_s - before_s))" \
        "$((after_pg - before_pg))" "$(getconf CLK_TCK)" "$load" >>"$ROWS" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
name, run, cases, ds, dpg, hz, load = sys.argv[2:9]
cases, ds, dpg, hz = int(cases), int(ds), int(dpg), int(hz)
def ms(ticks):
    return round(ticks * 1000 / hz / max(cases, 1), 3)
def pick(*keys):
    for k in keys:
        if k in r:
            return r[k]
    return None
print(json.dumps({
    "run": int(run), "build": name, "load": float(load), "cases": cases,
    "rps": pick("rps", "req_per_s", "throughput"),
    "p50_ms": pick("p50_ms"), "p99_ms": pick("p99_ms"), "errors": pick("errors"),
    "server_ms_cpu_per_case": ms(ds), "postgres_ms_cpu_per_case": ms(dpg),
    "loadgen": r,
}))
PY
    log "$(tail -1 "$ROWS" | python3 -c 'import json,sys; r=json.load(sys.stdin); r.pop("loadgen"); print(r)')"
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
print("| run | build | load | req/s | p50 ms | p99 ms | errors | server ms CPU / case | PostgreSQL ms CPU / case |")
print("|---|---|---|---|---|---|---|---|---|")
for r in rows:
    print(f"| {r['run']} | {r['build']} | {r['load']} | {r['rps']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} "
          f"| {r['errors']} | {r['server_ms_cpu_per_case']:.2f} | {r['postgres_ms_cpu_per_case']:.2f} |")
for b in ("old", "new"):
    rs = [r for r in rows if r["build"] == b]
    if rs:
        med = lambda k: statistics.median(r[k] for r in rs)
        print(f"\n{b}: median req/s {med('rps'):.0f}, p99 {med('p99_ms'):.1f} ms, server {med('server_ms_cpu_per_case'):.2f} ms "
              f"+ PostgreSQL {med('postgres_ms_cpu_per_case'):.2f} ms CPU per case ({len(rs)} runs)")
PY
