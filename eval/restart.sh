#!/usr/bin/env bash
# What a restart costs over an existing store: the band index loaded from the snapshot of a clean
# close (SIGTERM) against rebuilt from sled after a crash (SIGKILL). Serves DATA_DIR four times:
#   1. open, SIGTERM            (makes sure a snapshot exists; this open may rebuild)
#   2. open from the snapshot, SIGTERM    -> open ms, RSS once listening, snapshot save ms
#   3. open from the snapshot, SIGKILL    -> no snapshot for the next open
#   4. open, rebuild            -> open ms, RSS once listening (the model may still be loading)
# Usage: eval/restart.sh DATA_DIR [JSON_OUT]   (BIN=target/release/paidan, MODEL_DIR=models/default)
# The store is changed only by what serving it does (no requests are sent); use a copy if a
# benchmark needs it untouched (bench.sh keeps its 1M store in target/bench-run/dedup-index).
set -euo pipefail
cd "$(dirname "$0")/.."

DIR=${1:?usage: eval/restart.sh DATA_DIR [JSON_OUT]}
OUT_JSON=${2:-}
BIN=${BIN:-target/release/paidan}
MODEL_DIR=${MODEL_DIR:-models/default}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# Field $3 of the last JSON log line in $1 whose message is $2 ("null" when there is none).
field() {
    python3 - "$@" <<'PY'
import json, sys
path, msg, key = sys.argv[1:4]
value = None
for line in open(path, encoding="utf-8"):
    try:
        rec = json.loads(line)
    except ValueError:
        continue
    fields = rec.get("fields", {})
    if fields.get("message") == msg and key in fields:
        value = fields[key]
print(json.dumps(value))
PY
}

# serve_once N SIGNAL: serve until the address is written, note RSS, stop with SIGNAL.
serve_once() {
    local n=$1 sig=$2 log="$WORK/serve-$1.log"
    rm -f "$WORK/addr"
    PAIDAN_LOG=info "$BIN" --log-json serve --addr 127.0.0.1:0 --data-dir "$DIR" --model-dir "$MODEL_DIR" \
        --addr-file "$WORK/addr" 2>"$log" &
    local pid=$!
    for _ in $(seq 1 3000); do
        [[ -s "$WORK/addr" ]] && break
        kill -0 "$pid" 2>/dev/null || { echo "serve exited; log:" >&2; cat "$log" >&2; exit 1; }
        sleep 0.1
    done
    grep VmRSS "/proc/$pid/status" | awk '{print $2}' > "$WORK/rss-$n"
    kill "-$sig" "$pid"
    { wait "$pid"; } 2>/dev/null || true
}

serve_once 1 TERM
serve_once 2 TERM
serve_once 3 KILL
serve_once 4 TERM

snap_from=$(field "$WORK/serve-2.log" "store opened, band index ready" from_snapshot)
rebuilt_from=$(field "$WORK/serve-4.log" "store opened, band index ready" from_snapshot)
if [[ "$snap_from" != true || "$rebuilt_from" != false ]]; then
    echo "expected a snapshot load then a rebuild, got from_snapshot=$snap_from then $rebuilt_from" >&2
    exit 1
fi
cases=$(field "$WORK/serve-2.log" "store opened, band index ready" dedup_indexed)
json=$(printf '{"indexed_cases": %s, "open_from_snapshot_ms": %s, "open_rebuild_ms": %s, "snapshot_save_ms": %s, "rss_listening_after_snapshot_kb": %s, "rss_listening_after_rebuild_kb": %s, "snapshot_bytes": %s, "data_dir_bytes": %s}' \
    "$cases" \
    "$(field "$WORK/serve-2.log" "store opened, band index ready" ms)" \
    "$(field "$WORK/serve-4.log" "store opened, band index ready" ms)" \
    "$(field "$WORK/serve-2.log" "band index saved for the next open" ms)" \
    "$(cat "$WORK/rss-2")" "$(cat "$WORK/rss-4")" \
    "$(stat -c %s "$DIR/paidan-band-index.bin" 2>/dev/null || echo null)" \
    "$(du -sb "$DIR" | cut -f1)")
echo "$json"
[[ -n "$OUT_JSON" ]] && echo "$json" > "$OUT_JSON"
exit 0
