#!/usr/bin/env python3
"""Copies shared/data/city_more.jsonl (7,595 labelled city messages) into models/data, leaving out
every row that eval/split.py's grouping puts in one group with a row of eval/sets/city_test.jsonl
(same title, or char-4-gram Jaccard >= 0.5), so the test split stays unseen by the shipped model.
Python stdlib only, deterministic:

    python3 models/data/city_more.py --data /work/shared/data
"""
import argparse, json, os, sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "../../eval"))
from split import group  # noqa: E402

def read(p):
    with open(p, encoding="utf-8") as f:
        return [json.loads(l) for l in f if l.strip()]

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data")
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "../..")
    a = ap.parse_args()
    more = read(os.path.join(a.data, "city_more.jsonl"))
    test = read(os.path.join(root, "eval/sets/city_test.jsonl"))
    rows = test + more
    groups = group(rows)
    drop = set()
    for members in groups.values():
        if any(i < len(test) for i in members):
            drop.update(i - len(test) for i in members if i >= len(test))
    out = os.path.join(root, "models/data/city_more.jsonl")
    with open(out, "w", encoding="utf-8") as f:
        for i, r in enumerate(more):
            if i not in drop:
                f.write(json.dumps(r, ensure_ascii=False) + "\n")
    print(f"city_more.jsonl: {len(more)} rows, {len(drop)} grouped with a city_test row and left out "
          f"-> {len(more) - len(drop)} rows")

if __name__ == "__main__":
    main()
