#!/usr/bin/env bash
# Grouped 5-fold cross-validation of the shipped recipe next to the Python baseline on the SAME folds
# (eval/baselines/cv_baseline.py: jieba + tf-idf word 1-2-grams + char 1-3-grams + LinearSVC, trained on the
# same rows of each fold, training-only rows included). This is how recipes and hyper-parameters are chosen;
# the test split (eval/sets/city_test.jsonl) is not in any of these sets. Writes eval/results/cv/*.json and
# eval/results/cv/CV.md (included in eval/SCORES.md by eval/scores.sh).
#
#   bash eval/cv.sh                  # all three sets (~40 min on 2 cores, most of it the Python baseline)
#   SETS="city" bash eval/cv.sh      # one set
# Needs: cargo; python3 with eval/baselines/requirements.txt; the shared data in ../shared/data (7-class and
# Haikou sets are read from there: SHARED=/path/to/shared/data).
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED=${SHARED:-../shared/data}
SETS=${SETS:-"city 7class 7class_random haikou"}
OUT=eval/results/cv
WORK=target/cv
mkdir -p "$OUT" "$WORK"
log() { printf '[cv %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
cargo build -q --release -p paidan
PAIDAN=target/release/paidan
for set in $SETS; do
    case $set in
        city) args=(--data models/data/city_train.jsonl --data models/data/city_dev.jsonl
                    --data models/data/city_more.jsonl --taxonomy models/taxonomy.toml
                    --aux models/data/haikou_v1.jsonl) ;;
        7class) args=(--data "$SHARED/train_7class.jsonl" --phrase-weight 0) ;;
        7class_random) args=(--data "$SHARED/train_7class.jsonl" --phrase-weight 0 --ungrouped) ;;
        haikou) args=(--data "$SHARED/haikou_train.jsonl" --phrase-weight 0) ;;
        *) echo "unknown set $set" >&2; exit 2 ;;
    esac
    log "$set: paidan cv"
    "$PAIDAN" cv "${args[@]}" --json "$OUT/$set.json" --folds-out "$WORK/${set}_folds.jsonl" | tee "$OUT/$set.txt"
    log "$set: Python baseline on the same folds"
    python3 eval/baselines/cv_baseline.py --folds "$WORK/${set}_folds.jsonl" --json "$OUT/${set}_py.json" >/dev/null
    if [[ $set == city ]]; then
        log "city: the Python baseline trained on every city row (+ training-only rows) and scored on the test split"
        python3 - "$WORK/city_folds.jsonl" eval/sets/city_test.jsonl "$WORK/test_look_folds.jsonl" <<'PY'
import json, sys
src, test, dst = sys.argv[1:]
with open(dst, "w", encoding="utf-8") as out:
    for l in open(src, encoding="utf-8"):
        r = json.loads(l); r["eval"] = False; r["fold"] = 1
        out.write(json.dumps(r, ensure_ascii=False) + "\n")
    for l in open(test, encoding="utf-8"):
        if l.strip():
            r = json.loads(l); r.update(fold=0, eval=True, set="city_test")
            out.write(json.dumps(r, ensure_ascii=False) + "\n")
PY
        python3 eval/baselines/cv_baseline.py --folds "$WORK/test_look_folds.jsonl" \
            --json "$OUT/test_look_py.json" >/dev/null
    fi
done
python3 eval/cv_report.py --results "$OUT" --out "$OUT/CV.md"
log "done: $OUT/CV.md"
