#!/usr/bin/env bash
# In-process triage, several builds A/B: runs `paidan bench-triage` of each build in turn, ROUNDS
# times (the builds alternate, so a drift of the machine's speed hits all of them alike), and
# prints each build's median complaints/s (bench-triage's own figure: model loading excluded)
# with every run's figure. For serving changes to the classifier (issue 19's in-process target).
#
# Usage: bash eval/triage-ab.sh ROUNDS THREADS PAIDAN_A PAIDAN_B [PAIDAN_C ...]
# Knobs (environment): DATA=eval/sets/load_texts.jsonl PASSES=20 MODEL_DIR=models/default
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 3 ]; then
    echo "usage: $0 ROUNDS THREADS PAIDAN_A [PAIDAN_B ...]" >&2
    exit 2
fi
rounds=$1 threads=$2
shift 2
DATA=${DATA:-eval/sets/load_texts.jsonl}
PASSES=${PASSES:-20}
MODEL_DIR=${MODEL_DIR:-models/default}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
for _ in $(seq "$rounds"); do
    for b in "$@"; do
        "$b" bench-triage --data "$DATA" --model-dir "$MODEL_DIR" --passes "$PASSES" \
            --threads "$threads" --json "$tmp.json" >/dev/null 2>&1
        python3 -c 'import json,sys; print(sys.argv[1], round(json.load(open(sys.argv[2]))["complaints_per_sec"]))' \
            "$b" "$tmp.json" >>"$tmp"
    done
done
rm -f "$tmp.json"
python3 - "$tmp" "$threads" "$@" <<'PY'
import statistics, sys
path, threads, builds = sys.argv[1], sys.argv[2], sys.argv[3:]
runs = {}
for line in open(path):
    b, v = line.split()
    runs.setdefault(b, []).append(int(v))
for b in builds:
    v = runs.get(b, [])
    print(f"{b}: median {statistics.median(v):,.0f} complaints/s on {threads} thread(s); runs {v}")
PY
