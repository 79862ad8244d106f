#!/usr/bin/env python3
"""Python reference baseline on the SAME cross-validation folds as `paidan cv`.

Usage (from the repo root; FOLDS is the JSONL written by `paidan cv --folds-out`):
    python3 eval/baselines/cv_baseline.py --folds FOLDS [--c 1.0] [--char-max 3] [--json OUT] [--predictions OUT.jsonl]

Fold rows: {"fold", "eval", "id", "title", "text", "category"?, "department"?, "sure"?, "set"}.
For each fold k: train on rows with fold != k plus every "eval": false row (training-only), predict the
rows with fold == k and "eval": true. A head is trained and scored only on rows carrying its label.

Recipe (the issue's "twenty-line Python pipeline"): input title + "\\n" + text, NFKC; tf-idf (sublinear tf)
over jieba word 1-2-grams (whitespace tokens dropped) hstacked with tf-idf over character
1-`--char-max`-grams of the NFKC text with whitespace removed; both fitted on the training part only;
one LinearSVC(C) per head. Pre-segmented sets (7-class) go through jieba as they are.

Top-level figures pool the predictions of every fold; macro-F1 is over the labels present in the gold
of the scored rows (zero_division=0). Conventions as eval/baselines/sklearn_baseline.py (one thread).
"""

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse
import json
import logging
import platform
import sys
import time
import unicodedata
from pathlib import Path

import jieba
import sklearn
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.svm import LinearSVC

sys.path.insert(0, str(Path(__file__).resolve().parent))
from sklearn_baseline import identity, raw_text, read_jsonl, segment  # noqa: E402

HEADS = ("category", "department")


def char_text(text):
    return "".join(unicodedata.normalize("NFKC", text).split())


def scores(gold, pred):
    return {
        "n": len(gold),
        "accuracy": accuracy_score(gold, pred) if gold else None,
        "macro_f1": f1_score(gold, pred, labels=sorted(set(gold)), average="macro", zero_division=0)
        if gold else None,
    }


def run_fold(words, chars, rows, train, test, args):
    """Fit the vectorizers and one LinearSVC per head on `train`; return {head: predictions for `test`}."""
    wv = TfidfVectorizer(tokenizer=identity, preprocessor=None, lowercase=False, token_pattern=None,
                         ngram_range=(1, 2), sublinear_tf=True)
    cv = TfidfVectorizer(analyzer="char", lowercase=False, ngram_range=(1, args.char_max), sublinear_tf=True)
    x_train = hstack([wv.fit_transform([words[i] for i in train]),
                      cv.fit_transform([chars[i] for i in train])]).tocsr()
    x_test = hstack([wv.transform([words[i] for i in test]), cv.transform([chars[i] for i in test])]).tocsr()
    preds = {}
    for head in HEADS:
        tr = [j for j, i in enumerate(train) if rows[i].get(head)]
        labels = [rows[train[j]][head] for j in tr]
        if len(set(labels)) > 1:
            model = LinearSVC(C=args.c, random_state=args.seed, max_iter=10000).fit(x_train[tr], labels)
            preds[head] = list(model.predict(x_test))
        elif labels:  # one class only: nothing to learn
            preds[head] = [labels[0]] * len(test)
    return preds


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--folds", required=True, help="JSONL from `paidan cv --folds-out`")
    ap.add_argument("--c", type=float, default=1.0, help="LinearSVC C (default 1.0)")
    ap.add_argument("--char-max", type=int, default=3, help="character n-gram upper bound (default 3)")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--json", help="write the result JSON here too")
    ap.add_argument("--predictions", help="write one JSONL row per scored message here")
    args = ap.parse_args()

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    t0 = time.perf_counter()
    rows = read_jsonl(args.folds)
    words = [segment(raw_text(r)) for r in rows]
    chars = [char_text(raw_text(r)) for r in rows]
    folds = sorted({r["fold"] for r in rows if r.get("eval")})

    gold = {h: [] for h in HEADS}
    pred = {h: [] for h in HEADS}
    per_fold, out_rows = [], []
    for k in folds:
        train = [i for i, r in enumerate(rows) if not r.get("eval") or r["fold"] != k]
        test = [i for i, r in enumerate(rows) if r.get("eval") and r["fold"] == k]
        preds = run_fold(words, chars, rows, train, test, args)
        fold_result = {"fold": k}
        for head in HEADS:
            idx = [j for j, i in enumerate(test) if rows[i].get(head)]
            if head not in preds or not idx:
                continue
            g, p = [rows[test[j]][head] for j in idx], [preds[head][j] for j in idx]
            gold[head] += g
            pred[head] += p
            fold_result[head] = scores(g, p)
        per_fold.append(fold_result)
        for j, i in enumerate(test):
            out = {"id": rows[i].get("id"), "fold": k}
            for h in HEADS:
                out[f"{h}_gold"] = rows[i].get(h)
                out[f"{h}_pred"] = preds[h][j] if h in preds else None
            out_rows.append(out)
        print(f"fold {k}: " + ", ".join(f"{h} acc {fold_result[h]['accuracy']:.4f} macro-F1 "
                                        f"{fold_result[h]['macro_f1']:.4f}" for h in HEADS if h in fold_result),
              file=sys.stderr)

    result = {
        "recipe": f"jieba word 1-2-grams + char 1-{args.char_max}-grams (NFKC, no whitespace) tf-idf "
                  f"(sublinear tf, fitted per fold) + LinearSVC per head",
        "c": args.c,
        "char_max": args.char_max,
        "folds_file": str(args.folds),
        "folds": len(folds),
        "rows_scored": len(out_rows),
        "rows_train_only": sum(1 for r in rows if not r.get("eval")),
    }
    result |= {h: scores(gold[h], pred[h]) for h in HEADS if gold[h]}
    result |= {
        "per_fold": per_fold,
        "seconds": time.perf_counter() - t0,
        "versions": {"python": platform.python_version(), "sklearn": sklearn.__version__, "jieba": jieba.__version__},
    }
    if args.predictions:
        with open(args.predictions, "w", encoding="utf-8") as f:
            for r in out_rows:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    text = json.dumps(result, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
