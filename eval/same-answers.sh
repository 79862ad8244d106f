#!/usr/bin/env bash
# Do two builds give the same triage answers? Runs `paidan eval --predictions` of each build on
# the same model and labelled rows and compares row by row: category, department and review flag
# equal, and the largest difference in the two confidences. For serving changes that should not
# change what the model says (a layout, a faster path): the answers must be the same, the
# confidences equal up to float summation order.
#
# usage: eval/same-answers.sh OLD_PAIDAN NEW_PAIDAN [MODEL_DIR] [DATA.jsonl ...]
#   defaults: MODEL_DIR=models/default, DATA = the training rows in ../shared/data (no test split)
set -euo pipefail
old=$1 new=$2
model=${3:-models/default}
shift $(( $# < 3 ? $# : 3 ))
data=("$@")
if [ ${#data[@]} -eq 0 ]; then
    data=(../shared/data/city_train.jsonl ../shared/data/city_more.jsonl ../shared/data/haikou_train.jsonl)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for d in "${data[@]}"; do
    "$old" eval --model "$model" --data "$d" --predictions "$tmp/old.jsonl" >/dev/null
    "$new" eval --model "$model" --data "$d" --predictions "$tmp/new.jsonl" >/dev/null
    python3 - "$d" "$tmp/old.jsonl" "$tmp/new.jsonl" <<'PY' || status=1
import json, sys
name, a, b = sys.argv[1:]
rows = lambda p: [json.loads(l) for l in open(p, encoding="utf-8") if l.strip()]
a, b = rows(a), rows(b)
assert len(a) == len(b), f"{len(a)} vs {len(b)} predictions"
key = lambda r: (r.get("category"), r.get("department"), r.get("needs_review"))
differ = [x.get("id") for x, y in zip(a, b) if key(x) != key(y)]
dc = max((abs(x.get("category_confidence", 0) - y.get("category_confidence", 0)) for x, y in zip(a, b)), default=0)
dd = max((abs(x.get("department_confidence", 0) - y.get("department_confidence", 0)) for x, y in zip(a, b)), default=0)
print(f"{name}: {len(a)} rows, {len(a) - len(differ)} same answers, max |Δ confidence| category {dc:.2e} department {dd:.2e}")
if differ:
    print(f"  differing ids (first 10): {differ[:10]}")
    sys.exit(1)
PY
done
exit $status
