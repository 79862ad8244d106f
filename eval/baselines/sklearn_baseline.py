#!/usr/bin/env python3
"""Python reference baseline for paidan: jieba + scikit-learn tf-idf (word 1-2-grams) + LinearSVC.

This is the stack an analyst would otherwise reach for. It trains on the SAME files the Rust model
trains on and is scored on the same eval sets, so its numbers sit next to paidan's:

* city taxonomy: train on models/data/city_train.jsonl, pick C on models/data/city_dev.jsonl (by category
  macro-F1), score category and department on eval/sets/city_test.jsonl (input = title + text, as paidan).
* 7-class set: train on models/data/7class_train.jsonl (text is already segmented: split on spaces),
  score on eval/sets/7class_test.jsonl; plus a count + multinomial naive Bayes baseline.
* throughput: complaints/s for the whole predict path (jieba segmentation + tf-idf transform + predict of
  every head), single process, one thread, on the raw texts of --bench-data (default: the city test set).

Prints (and with --json writes) one JSON object. Run from the repo root:
    python3 eval/baselines/sklearn_baseline.py --json eval/baselines/baseline.json
"""

import os

# One thread everywhere: the throughput figure is for a single process on one core.
for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, "1")

import argparse
import json
import logging
import platform
import statistics
import sys
import time
import unicodedata
from pathlib import Path

import jieba
import numpy as np
import scipy
import sklearn
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.metrics import accuracy_score, f1_score
from sklearn.naive_bayes import MultinomialNB
from sklearn.svm import LinearSVC

C_GRID = (0.1, 0.3, 1.0, 3.0, 10.0)


def read_jsonl(path):
    rows = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.strip()
            if not line:
                continue
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError as e:
                sys.exit(f"{path}:{lineno}: invalid JSON: {e}")
    return rows


def raw_text(row):
    """What paidan's model sees: title + text."""
    title = (row.get("title") or "").strip()
    text = row.get("text") or ""
    return f"{title}\n{text}" if title else text


def segment(text):
    # NFKC folds full-width forms the way paidan's normaliser does; jieba in accurate mode.
    return [w for w in jieba.lcut(unicodedata.normalize("NFKC", text)) if w.strip()]


def identity(tokens):
    return tokens


def split_spaces(text):
    return text.split()


def tfidf(analyzer_input):
    return TfidfVectorizer(
        tokenizer=analyzer_input,
        preprocessor=None,
        lowercase=False,
        token_pattern=None,
        ngram_range=(1, 2),
        sublinear_tf=True,
        min_df=1,
    )


def scores(gold, pred, sure=None):
    out = {
        "n": len(gold),
        "accuracy": accuracy_score(gold, pred),
        "macro_f1": f1_score(gold, pred, average="macro", zero_division=0),
        "weighted_f1": f1_score(gold, pred, average="weighted", zero_division=0),
    }
    if sure is not None and any(s is not None for s in sure):
        idx = [i for i, s in enumerate(sure) if s is True]
        if idx:
            out["accuracy_sure"] = accuracy_score([gold[i] for i in idx], [pred[i] for i in idx])
            out["n_sure"] = len(idx)
    return out


def labelled(rows, key):
    return [i for i, r in enumerate(rows) if r.get(key)]


def fit_svm(x, y, c, seed):
    return LinearSVC(C=c, random_state=seed, max_iter=10000).fit(x, y)


def throughput(predict_path, texts, min_seconds):
    """complaints/s of predict_path(texts) (whole path), best of several timed passes after a warm-up."""
    predict_path(texts[: min(len(texts), 64)])
    rates = []
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        predict_path(texts)
        rates.append(len(texts) / (time.perf_counter() - t0))
        if time.perf_counter() - start >= min_seconds and len(rates) >= 3:
            break
    return {
        "complaints_per_sec": max(rates),
        "complaints_per_sec_median": statistics.median(rates),
        "n": len(texts),
        "passes": len(rates),
        "threads": 1,
    }


def city(args):
    train = read_jsonl(args.city_train)
    dev = read_jsonl(args.city_dev) if args.city_dev and Path(args.city_dev).exists() else []
    test = read_jsonl(args.city_test)
    t0 = time.perf_counter()
    seg_train = [segment(raw_text(r)) for r in train]
    seg_dev = [segment(raw_text(r)) for r in dev]
    seg_test = [segment(raw_text(r)) for r in test]
    vec = tfidf(identity)
    x_train = vec.fit_transform(seg_train)
    x_dev = vec.transform(seg_dev) if dev else None
    x_test = vec.transform(seg_test)
    result = {
        "train": str(args.city_train),
        "dev": str(args.city_dev) if dev else None,
        "test": str(args.city_test),
        "n_train": len(train),
        "n_dev": len(dev),
        "vocabulary": len(vec.vocabulary_),
    }
    models = {}
    for head in ("category", "department"):
        tr = labelled(train, head)
        if not tr:
            continue
        y_train = [train[i][head] for i in tr]
        best_c, dev_scores = 1.0, {}
        dv = labelled(dev, head)
        if dv:
            for c in C_GRID:
                m = fit_svm(x_train[tr], y_train, c, args.seed)
                p = m.predict(x_dev[dv])
                dev_scores[str(c)] = f1_score([dev[i][head] for i in dv], p, average="macro", zero_division=0)
            best_c = float(max(C_GRID, key=lambda c: dev_scores[str(c)]))
        model = fit_svm(x_train[tr], y_train, best_c, args.seed)
        models[head] = model
        te = labelled(test, head)
        pred = model.predict(x_test[te]) if te else []
        result[head] = scores(
            [test[i][head] for i in te], list(pred), [test[i].get("sure") for i in te]
        ) | {"C": best_c, "dev_macro_f1_by_C": dev_scores}
        if args.predictions_dir:
            full = model.predict(x_test)
            for r, p in zip(test, full):
                r.setdefault("_pred", {})[head] = p
    result["train_seconds"] = time.perf_counter() - t0
    if args.predictions_dir:
        out = Path(args.predictions_dir) / "city_test.sklearn.predictions.jsonl"
        with open(out, "w", encoding="utf-8") as f:
            for lineno, r in enumerate(test, 1):
                p = r.get("_pred", {})
                f.write(json.dumps({
                    "id": r.get("id") or f"line-{lineno}",
                    "category": p.get("category"), "category_confidence": None,
                    "department": p.get("department"), "department_confidence": None,
                    "needs_review": False,
                }, ensure_ascii=False) + "\n")
        result["predictions"] = str(out)

    bench_rows = read_jsonl(args.bench_data) if args.bench_data else test
    if args.bench_limit:
        bench_rows = bench_rows[: args.bench_limit]
    texts = [raw_text(r) for r in bench_rows]

    def predict_path(batch):
        x = vec.transform([segment(t) for t in batch])
        return [m.predict(x) for m in models.values()]

    result["throughput"] = throughput(predict_path, texts, args.min_seconds) | {
        "data": str(args.bench_data or args.city_test),
        "heads": list(models),
    }
    return result


def seven(args):
    train = read_jsonl(args.seven_train)
    test = read_jsonl(args.seven_test)
    dev = read_jsonl(args.seven_dev) if args.seven_dev and Path(args.seven_dev).exists() else []
    y_train = [r["category"] for r in train]
    y_test = [r["category"] for r in test]
    result = {"train": str(args.seven_train), "test": str(args.seven_test), "n_train": len(train)}
    t0 = time.perf_counter()
    vec = tfidf(split_spaces)
    x_train = vec.fit_transform([r["text"] for r in train])
    best_c, dev_scores = 1.0, {}
    if dev:
        x_dev = vec.transform([r["text"] for r in dev])
        y_dev = [r["category"] for r in dev]
        for c in C_GRID:
            p = fit_svm(x_train, y_train, c, args.seed).predict(x_dev)
            dev_scores[str(c)] = f1_score(y_dev, p, average="macro", zero_division=0)
        best_c = float(max(C_GRID, key=lambda c: dev_scores[str(c)]))
        result["dev"] = str(args.seven_dev)
    svm = fit_svm(x_train, y_train, best_c, args.seed)
    result["train_seconds_tfidf_svm"] = time.perf_counter() - t0
    x_test = vec.transform([r["text"] for r in test])
    result["tfidf_svm"] = scores(y_test, list(svm.predict(x_test))) | {"C": best_c, "dev_macro_f1_by_C": dev_scores}

    counts = CountVectorizer(tokenizer=split_spaces, lowercase=False, token_pattern=None)
    nb = MultinomialNB(alpha=1.0).fit(counts.fit_transform([r["text"] for r in train]), y_train)
    result["count_nb"] = scores(y_test, list(nb.predict(counts.transform([r["text"] for r in test]))))

    texts = [r["text"] for r in test]
    result["throughput"] = throughput(lambda b: svm.predict(vec.transform(b)), texts, args.min_seconds) | {
        "note": "text is pre-segmented: whitespace split + tf-idf + LinearSVC, no jieba",
    }
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--city-train", default="models/data/city_train.jsonl")
    ap.add_argument("--city-dev", default="models/data/city_dev.jsonl")
    ap.add_argument("--city-test", default="eval/sets/city_test.jsonl")
    ap.add_argument("--seven-train", default="models/data/7class_train.jsonl")
    ap.add_argument("--seven-dev", default="models/data/7class_dev.jsonl")
    ap.add_argument("--seven-test", default="eval/sets/7class_test.jsonl")
    ap.add_argument("--bench-data", help="JSONL whose raw texts are used for the throughput run (default: city test set)")
    ap.add_argument("--bench-limit", type=int, default=0, help="use at most this many bench rows (0 = all)")
    ap.add_argument("--min-seconds", type=float, default=5.0, help="time the predict path for at least this long")
    ap.add_argument("--seed", type=int, default=42)
    ap.add_argument("--skip-city", action="store_true")
    ap.add_argument("--skip-7class", action="store_true")
    ap.add_argument("--predictions-dir", help="also write the city test predictions in paidan's --predictions format")
    ap.add_argument("--json", help="write the result JSON here too")
    args = ap.parse_args()

    jieba.setLogLevel(logging.WARNING)
    jieba.initialize()
    out = {
        "baseline": "jieba + tf-idf (word 1-2-grams, sublinear tf) + LinearSVC",
        "versions": {
            "python": platform.python_version(),
            "scikit-learn": sklearn.__version__,
            "jieba": jieba.__version__,
            "numpy": np.__version__,
            "scipy": scipy.__version__,
        },
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "processor": platform.processor()},
    }
    if not args.skip_city:
        out["city"] = city(args)
    if not args.skip_7class:
        out["7class"] = seven(args)
    text = json.dumps(out, ensure_ascii=False, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
