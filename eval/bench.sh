#!/usr/bin/env bash
# Regenerates eval/BENCHMARKS.md: builds release, measures in-process triage (bench-triage), starts
# `paidan serve` on 127.0.0.1 with a temporary data dir, drives Triage and SubmitComplaint with
# `paidan loadgen` (32 clients), measures the dedup lookup at 10k / 100k / 1M indexed cases and the
# serving RSS over the 1M-case store, runs the Python baseline on the same texts, and writes the report.
#
# Run from anywhere:   bash eval/bench.sh
# Knobs (environment): PASSES=20 TRIAGE_RUNS=5 CLIENTS=32 DURATION=15s DEDUP_SIZES=10000,100000 (1000000: ~9.4 GB and ~7 min on a quiet 2-core machine to build the kept index the first time) SKIP_BASELINE=1
#                      SKIP_DEDUP=1 SKIP_CRITERION=1 SKIP_HOT=1 HOT_ROUNDS=4 BENCH_OUT=target/bench-run
#                      BIG_SIZES=5000000 (lookup only, on a second kept store grown from a copy of the
#                      DEDUP_SIZES one: ~47 GB and ~35 min on a quiet machine the first time; unset: skipped)
# Criterion stage benches are separate (slow):  cargo bench -p paidan-bench
# (when SKIP_CRITERION is unset this script runs them too and copies their estimates into the report).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${BENCH_OUT:-target/bench-run}
DATA=${DATA:-eval/sets/load_texts.jsonl}
CLIENTS=${CLIENTS:-32}
DURATION=${DURATION:-15s}
DEDUP_SIZES=${DEDUP_SIZES:-10000,100000}
MODEL_DIR=${MODEL_DIR:-models/default}
mkdir -p "$OUT"
find "$OUT" -maxdepth 1 -name '*.json' -delete

log() { printf '[bench %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

log "building release binaries"
cargo build --release -p paidan
cargo build --release -p paidan-bench --bin dedup-lookup
BIN=target/release/paidan
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)

if [[ ! -f "$MODEL_DIR/config.json" ]]; then
    # No shipped model yet: train the city model from models/data (same recipe as models/default).
    MODEL_DIR="$OUT/model-city"
    if [[ ! -f "$MODEL_DIR/config.json" ]]; then
        log "no model in models/default: training the city model into $MODEL_DIR"
        "$BIN" train --data models/data/city_train.jsonl --dev models/data/city_dev.jsonl \
            --taxonomy models/taxonomy.toml --out "$MODEL_DIR" >"$OUT/train-city.log" 2>&1
    fi
fi
printf '{"model_dir": "%s"}\n' "$MODEL_DIR" > "$OUT/model.json"

log "in-process triage (bench-triage, all cores)"
# 20 passes over the texts (~1.5 s per run): 3 passes finished in 0.35 s and swung by ±30 %.
PASSES=${PASSES:-20}
# TRIAGE_RUNS runs each (default 5), the run with the median rate kept: on these shared 2-core
# machines one run swung by ±15 % between minutes (eval/bench-notes.md, session 10).
TRIAGE_RUNS=${TRIAGE_RUNS:-5}
median_triage() { # OUT_JSON [bench-triage args...]: runs TRIAGE_RUNS times, keeps the median run
    local out=$1 i
    shift
    for i in $(seq "$TRIAGE_RUNS"); do
        "$BIN" bench-triage --data "$DATA" --model-dir "$MODEL_DIR" --passes "$PASSES" "$@" \
            --json "$out.run$i" >/dev/null
    done
    python3 - "$out" "$TRIAGE_RUNS" <<'PY'
import json, sys
out, n = sys.argv[1], int(sys.argv[2])
runs = [json.load(open(f"{out}.run{i}")) for i in range(1, n + 1)]
keep = sorted(runs, key=lambda r: r["complaints_per_sec"])[(n - 1) // 2]
keep["runs"] = n
keep["all_complaints_per_sec"] = [round(r["complaints_per_sec"]) for r in runs]
json.dump(keep, open(out, "w"), indent=2)
PY
    rm -f "$out".run*
}
median_triage "$OUT/bench_triage.json"
median_triage "$OUT/bench_triage_1t.json" --threads 1

SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    [[ -n "${DATA_DIR:-}" ]] && rm -rf "$DATA_DIR"
}
trap cleanup EXIT

# start_server DIR: starts `paidan serve` on an ephemeral loopback port over DIR; sets ADDR, SERVER_PID.
start_server() {
    rm -f "$OUT/addr"
    PAIDAN_LOG=warn "$BIN" serve --addr 127.0.0.1:0 --data-dir "$1" --model-dir "$MODEL_DIR" \
        --addr-file "$OUT/addr" 2>>"$OUT/server.log" &
    SERVER_PID=$!
    for _ in $(seq 1 300); do
        [[ -s "$OUT/addr" ]] && break
        kill -0 "$SERVER_PID" 2>/dev/null || { log "server exited; see $OUT/server.log"; exit 1; }
        sleep 0.1
    done
    ADDR=$(cat "$OUT/addr")
}
stop_server() {
    kill "$SERVER_PID" && wait "$SERVER_PID" || true
    SERVER_PID=""
}
rss_kb() { awk -v k="$2" '$1 == k":" { print $2 }' "/proc/$1/status"; }

DATA_DIR=$(mktemp -d /tmp/paidan-bench-data.XXXXXX)
start_server "$DATA_DIR"
log "server on $ADDR (pid $SERVER_PID, data $DATA_DIR)"
log "loadgen: Triage, $CLIENTS clients, $DURATION"
"$BIN" loadgen --addr "$ADDR" --rpc triage --clients "$CLIENTS" --duration "$DURATION" --data "$DATA" \
    --json "$OUT/loadgen_triage.json"
log "loadgen: SubmitComplaint, $CLIENTS clients, $DURATION"
"$BIN" loadgen --addr "$ADDR" --rpc submit --clients "$CLIENTS" --duration "$DURATION" --data "$DATA" \
    --json "$OUT/loadgen_submit.json"
printf '{"vm_rss_kb": %s, "vm_hwm_kb": %s, "data_dir_bytes": %s}\n' \
    "$(rss_kb "$SERVER_PID" VmRSS)" "$(rss_kb "$SERVER_PID" VmHWM)" "$(du -sb "$DATA_DIR" | cut -f1)" \
    > "$OUT/server_rss.json"
stop_server

if [[ -z "${SKIP_HOT:-}" ]]; then
    # One matter reported thousands of times (eval/hot-matter.sh): a fresh store, 8 clients
    # submitting five wordings of one water cut, HOT_ROUNDS rounds; a cost that grows with the
    # matter shows as falling rounds.
    HOT_ROUNDS=${HOT_ROUNDS:-4}
    log "one matter reported thousands of times: $HOT_ROUNDS rounds of $DURATION, 8 clients"
    HOT_DIR=$(mktemp -d /tmp/paidan-bench-hot.XXXXXX)
    start_server "$HOT_DIR"
    : >"$OUT/hot_matter.jsonl"
    for r in $(seq "$HOT_ROUNDS"); do
        "$BIN" loadgen --addr "$ADDR" --rpc submit --clients 8 --duration "$DURATION" --warmup 0s \
            --data eval/sets/hot_matter.jsonl --jurisdiction 海口市 --json "$OUT/hot_round.json" >/dev/null
        python3 - "$OUT/hot_round.json" "$r" "$(du -sb "$HOT_DIR" | cut -f1)" >>"$OUT/hot_matter.jsonl" <<'PY'
import json, sys
l = json.load(open(sys.argv[1]))
print(json.dumps({"round": int(sys.argv[2]), "requests": l["requests"], "rps": l["rps"],
                  "p50_ms": l["p50_ms"], "p99_ms": l["p99_ms"], "errors": l["errors"],
                  "store_bytes": int(sys.argv[3])}))
PY
    done
    stop_server
    rm -rf "$HOT_DIR" "$OUT/hot_round.json"
fi

if [[ -z "${SKIP_DEDUP:-}" ]]; then
    INDEX_DIR="$OUT/dedup-index"
    log "dedup lookup at $DEDUP_SIZES indexed cases (store kept in $INDEX_DIR for reruns)"
    # Sizes below what the kept store already holds are measured in a temporary store of their
    # own (the kept one cannot shrink); the rest on the kept store, grown as needed.
    KEPT=$(cut -d' ' -f1 "$INDEX_DIR/bench-filled.txt" 2>/dev/null || echo 0)
    SMALL=$(tr ',' '\n' <<<"$DEDUP_SIZES" | awk -v k="$KEPT" '$1 < k' | paste -sd, -)
    LARGE=$(tr ',' '\n' <<<"$DEDUP_SIZES" | awk -v k="$KEPT" '$1 >= k' | paste -sd, -)
    if [[ -n "$SMALL" ]]; then
        target/release/dedup-lookup --sizes "$SMALL" --json "$OUT/dedup_lookup_small.json" >/dev/null
    fi
    if [[ -n "$LARGE" ]]; then
        target/release/dedup-lookup --sizes "$LARGE" --dir "$INDEX_DIR" --json "$OUT/dedup_lookup.json" >/dev/null
    fi
    if [[ -n "$SMALL" ]]; then
        python3 - "$OUT" <<'PY'
import json, sys, os
out = sys.argv[1]
small = json.load(open(f"{out}/dedup_lookup_small.json"))
path = f"{out}/dedup_lookup.json"
merged = json.load(open(path)) if os.path.exists(path) else {k: v for k, v in small.items() if k != "results"} | {"results": []}
merged["results"] = small["results"] + merged["results"]
json.dump(merged, open(path, "w"), indent=2)
PY
        rm -f "$OUT/dedup_lookup_small.json"
    fi
    # Serve a copy: the submits below add current-time cases, which would move the kept index's
    # window to today and send a rerun's (older) lookups to the slow back-dated path.
    SERVE_DIR="$OUT/dedup-index-serving"
    rm -rf "$SERVE_DIR" && cp -r "$INDEX_DIR" "$SERVE_DIR"
    log "serving RSS over the $(cut -d' ' -f1 "$INDEX_DIR/bench-filled.txt")-case store (a copy)"
    start_server "$SERVE_DIR"
    "$BIN" loadgen --addr "$ADDR" --rpc submit --clients "$CLIENTS" --duration "$DURATION" --data "$DATA" \
        --json "$OUT/loadgen_submit_big.json"
    # RssAnon is the heap (band index, sled's cache and page table, model, jieba); RssFile the
    # mapped binary and files.
    printf '{"cases": %s, "vm_rss_kb": %s, "vm_hwm_kb": %s, "rss_anon_kb": %s, "rss_file_kb": %s, "data_dir_bytes": %s}\n' \
        "$(cut -d" " -f1 "$INDEX_DIR/bench-filled.txt")" "$(rss_kb "$SERVER_PID" VmRSS)" \
        "$(rss_kb "$SERVER_PID" VmHWM)" "$(rss_kb "$SERVER_PID" RssAnon)" "$(rss_kb "$SERVER_PID" RssFile)" \
        "$(du -sb "$SERVE_DIR" | cut -f1)" > "$OUT/server_rss_big.json"
    stop_server
    rm -rf "$SERVE_DIR"
    if [[ -n "${BIG_SIZES:-}" ]]; then
        # A second kept store for the large sizes: grown from a copy of the first (its cases are the
        # same synthetic stream, so only the missing ones are inserted). Lookups only: serving a copy
        # of it would need its size again on disk.
        BIG_DIR="$OUT/dedup-index-big"
        if [[ ! -f "$BIG_DIR/bench-filled.txt" ]]; then
            rm -rf "$BIG_DIR" && cp -r "$INDEX_DIR" "$BIG_DIR"
        fi
        log "dedup lookup at $BIG_SIZES indexed cases (store kept in $BIG_DIR)"
        target/release/dedup-lookup --sizes "$BIG_SIZES" --dir "$BIG_DIR" --json "$OUT/dedup_lookup_big.json" >/dev/null
    fi
fi

if [[ -z "${SKIP_BASELINE:-}" ]]; then
    log "Python baseline (jieba + tf-idf + LinearSVC) on the same texts"
    python3 -c 'import jieba, sklearn' 2>/dev/null \
        || python3 -m pip install --quiet --disable-pip-version-check -r eval/baselines/requirements.txt
    python3 eval/baselines/sklearn_baseline.py --bench-data "$DATA" --json "$OUT/baseline.json" >/dev/null
fi

if [[ -z "${SKIP_CRITERION:-}" ]]; then
    log "criterion stage benches"
    PAIDAN_BENCH_MODEL="$(realpath "$MODEL_DIR")" cargo bench -p paidan-bench >"$OUT/criterion.txt" 2>&1
fi

if [[ -z "${SKIP_TRAIN:-}" ]]; then
    # Bounded: a run longer than TRAIN_LIMIT seconds (default 600) is stopped and reported as "> limit".
    TRAIN_LIMIT=${TRAIN_LIMIT:-600}
    log "training time on the 7-class set (paidan train, models/data/7class_{train,dev}.jsonl; limit ${TRAIN_LIMIT}s)"
    rm -rf "$OUT/train-7class"
    T0=$(date +%s.%N)
    STATUS=0
    timeout "$TRAIN_LIMIT" "$BIN" train --data models/data/7class_train.jsonl --dev models/data/7class_dev.jsonl \
        --out "$OUT/train-7class" >"$OUT/train.log" 2>&1 || STATUS=$?
    T1=$(date +%s.%N)
    printf '{"seconds": %s, "train_rows": %s, "dev_rows": %s, "completed": %s}\n' \
        "$(awk -v a="$T0" -v b="$T1" 'BEGIN { print b - a }')" \
        "$(wc -l < models/data/7class_train.jsonl)" "$(wc -l < models/data/7class_dev.jsonl)" \
        "$([[ $STATUS == 0 ]] && echo true || echo false)" > "$OUT/train_7class.json"
fi

printf '{"start": "%s", "end": "%s"}\n' "$LOAD_START" "$(cut -d' ' -f1-3 /proc/loadavg)" > "$OUT/loadavg.json"
log "writing eval/BENCHMARKS.md (raw results in eval/bench-results/)"
mkdir -p eval/bench-results
cp "$OUT"/*.json "$OUT"/hot_matter.jsonl eval/bench-results/ 2>/dev/null || cp "$OUT"/*.json eval/bench-results/
python3 eval/bench_report.py --dir "$OUT" --out eval/BENCHMARKS.md
log "done"
