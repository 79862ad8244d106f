#!/usr/bin/env python3
"""Deterministic grouped split of the shared duplicate pairs into dedup_tune.jsonl / dedup_test.jsonl.

Pairs are grouped into connected components of the "shares a message id" graph, so no message id
appears on both sides. Each component goes to test when sha256("paidan-dedup-{SALT}:" + smallest id in the
component) has an odd first byte, else to tune. SALT was chosen once, before any
model was scored, as the salt in 0..200 that best balances the duplicate / not-duplicate counts of the two sides
(searched on labels only). Rows keep their original order and content.

    python3 eval/sets/dedup_split.py /work/shared/data/dedup_pairs.jsonl eval/sets
"""
import hashlib
import json
import os
import sys

SALT = 35


def main(src: str, out_dir: str) -> None:
    lines = [l for l in open(src, encoding="utf-8") if l.strip()]
    rows = [json.loads(l) for l in lines]
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for r in rows:
        a, b = find(r["a"]["id"]), find(r["b"]["id"])
        if a != b:
            parent[max(a, b)] = min(a, b)
    members: dict[str, list[str]] = {}
    for x in list(parent):
        members.setdefault(find(x), []).append(x)
    side = {}
    for root, ids in members.items():
        h = hashlib.sha256(f"paidan-dedup-{SALT}:{min(ids)}".encode()).digest()
        side[root] = "test" if h[0] % 2 else "tune"
    outs = {k: open(os.path.join(out_dir, f"dedup_{k}.jsonl"), "w", encoding="utf-8") for k in ("tune", "test")}
    stats = {k: [0, 0] for k in outs}
    for line, r in zip(lines, rows):
        k = side[find(r["a"]["id"])]
        outs[k].write(line if line.endswith("\n") else line + "\n")
        stats[k][0 if r["duplicate"] else 1] += 1
    for k, (d, n) in stats.items():
        print(f"{k}: {d + n} pairs ({d} duplicate, {n} not)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
