#!/usr/bin/env python3
"""Deterministic grouped train/dev/test split of the labelled paidan data (Python stdlib only).

Near-identical messages are grouped first (same non-empty title, or char-4-gram Jaccard >= 0.5 on the
text), and whole groups are assigned to a split by a SHA-256 hash of the group's first member, so a
repeat complaint never straddles two splits and the result is the same on every machine.

    python3 eval/split.py                       # both sets, default paths
    python3 eval/split.py --seed paidan-v1      # the salt that was used for the committed files
"""
import argparse, collections, hashlib, json, os

def shingles(s, n=4):
    s = "".join(s.split())
    return {s[i:i + n] for i in range(max(1, len(s) - n + 1))}

def group(rows):
    parent = list(range(len(rows)))
    def find(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    def union(a, b):
        a, b = find(a), find(b)
        if a != b:
            parent[max(a, b)] = min(a, b)
    by_title = {}
    for i, r in enumerate(rows):
        t = (r.get("title") or "").strip()
        if len(t) >= 4:
            if t in by_title:
                union(i, by_title[t])
            else:
                by_title[t] = i
    sh = [shingles(r["text"]) for r in rows]
    index = collections.defaultdict(list)
    for i, s in enumerate(sh):
        for g in s:
            index[g].append(i)
    for i, s in enumerate(sh):
        cand = collections.Counter()
        for g in s:
            post = index[g]
            if len(post) <= 60:
                for j in post:
                    if j < i:
                        cand[j] += 1
        for j, shared in cand.items():
            # shared counts only rare shingles; confirm with the exact Jaccard.
            if shared * 4 < min(len(s), len(sh[j])):
                continue
            inter = len(s & sh[j])
            if inter / (len(s) + len(sh[j]) - inter) >= 0.5:
                union(i, j)
    groups = collections.defaultdict(list)
    for i in range(len(rows)):
        groups[find(i)].append(i)
    return groups

def split(rows, seed, dev_pct=10, test_pct=10):
    out = {"train": [], "dev": [], "test": []}
    groups = group(rows)
    for root, members in groups.items():
        key = rows[root].get("id") or rows[root]["text"]
        h = int(hashlib.sha256(f"{seed}:{key}".encode()).hexdigest()[:8], 16) % 100
        name = "test" if h < test_pct else "dev" if h < test_pct + dev_pct else "train"
        out[name].extend(members)
    for k in out:
        out[k] = [rows[i] for i in sorted(out[k])]
    return out, len(groups)

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default="/work/shared/data")
    ap.add_argument("--seed", default="paidan-v1")
    ap.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    a = ap.parse_args()
    for src, prefix in [("city_train.jsonl", "city"), ("train_7class.jsonl", "7class")]:
        with open(os.path.join(a.data, src), encoding="utf-8") as f:
            rows = [json.loads(l) for l in f if l.strip()]
        parts, ngroups = split(rows, a.seed)
        paths = {
            "train": os.path.join(a.root, "models/data", f"{prefix}_train.jsonl"),
            "dev": os.path.join(a.root, "models/data", f"{prefix}_dev.jsonl"),
            "test": os.path.join(a.root, "eval/sets", f"{prefix}_test.jsonl"),
        }
        for k, p in paths.items():
            os.makedirs(os.path.dirname(p), exist_ok=True)
            with open(p, "w", encoding="utf-8") as f:
                for r in parts[k]:
                    f.write(json.dumps(r, ensure_ascii=False) + "\n")
        print(f"{src}: {len(rows)} rows, {ngroups} groups -> "
              + ", ".join(f"{k} {len(v)}" for k, v in parts.items()))

if __name__ == "__main__":
    main()
