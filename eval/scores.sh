#!/usr/bin/env bash
# Regenerates eval/SCORES.md: the current scores of models/default on the city test set, of a 7-class
# model trained by the same code on models/data/7class_train.jsonl, and of the Python baseline
# (jieba + scikit-learn tf-idf + LinearSVC) trained on the same files — with McNemar's test between them —
# and grouped cross-validation of the duplicate decision on all labelled pairs (with the old decision and the
# trigram-Jaccard baseline on the same folds).
#
# Run from anywhere:   bash eval/scores.sh
# Knobs (environment): MODEL_DIR=models/default  SKIP_BASELINE=1 (reuse eval/results/baseline.json)
# Needs: cargo; python3 with eval/baselines/requirements.txt installed (pip install -r ...).
set -euo pipefail
cd "$(dirname "$0")/.."

MODEL_DIR=${MODEL_DIR:-models/default}
OUT=eval/results
WORK=target/scores
mkdir -p "$OUT" "$WORK"
log() { printf '[scores %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# Dev profile is enough (dependencies are built at opt-level 3). `paidan eval` and this example call the same library function (paidan_eval::run_eval).
EVAL=(cargo run -q -p paidan-eval --example eval --)

log "evaluating $MODEL_DIR on eval/sets/city_test.jsonl"
"${EVAL[@]}" eval --model "$MODEL_DIR" --data eval/sets/city_test.jsonl \
    --json "$OUT/city_test.json" --html "$OUT/city_test.html" --predictions "$OUT/city_test.predictions.jsonl"

log "training the 7-class model (models/data/7class_train.jsonl, dev 7class_dev.jsonl) into $WORK/7class"
rm -rf "$WORK/7class"
"${EVAL[@]}" train --data models/data/7class_train.jsonl --dev models/data/7class_dev.jsonl --out "$WORK/7class" \
    | tee "$WORK/7class_train.txt"
"${EVAL[@]}" eval --model "$WORK/7class" --data eval/sets/7class_test.jsonl --json "$OUT/7class_test.json" \
    --html "$OUT/7class_test.html"

if [[ -z "${SKIP_BASELINE:-}" ]]; then
    log "Python baseline (jieba + tf-idf + LinearSVC) on the same splits"
    python3 eval/baselines/sklearn_baseline.py --json "$OUT/baseline.json" --predictions-dir "$OUT" >/dev/null
fi

log "duplicate linking: grouped 5-fold CV of the decision on all labelled pairs (default window and none) + the shipped fit"
DEDUP_PAIRS=(eval/sets/dedup_tune.jsonl eval/sets/dedup_test.jsonl eval/sets/dedup_more.jsonl)
cargo run -q -p paidan -- eval-dedup --pairs "${DEDUP_PAIRS[@]}" --cv 5 --json "$OUT/dedup_cv.json" >/dev/null
cargo run -q -p paidan -- eval-dedup --pairs "${DEDUP_PAIRS[@]}" --cv 5 --window-days 0 \
    --json "$OUT/dedup_cv_nowindow.json" >/dev/null
cargo run -q -p paidan -- eval-dedup --pairs "${DEDUP_PAIRS[@]}" --fit --json "$OUT/dedup_fit.json" >/dev/null

log "writing eval/SCORES.md"
python3 eval/scores_report.py --results "$OUT" --train-log "$WORK/7class_train.txt" --out eval/SCORES.md
log "done"
