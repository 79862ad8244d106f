#!/usr/bin/env python3
"""Map the Haikou 12345 work orders onto paidan's taxonomy v1 (training rows for the v1 model).

Input: /work/shared/data/haikou_train.jsonl (16,726 work orders, Dec 2017 - Jun 2018, with the platform's own
labels: category_l1 / category (行业分类2级) / category_l3 / category_l4, and department = 处置单位, the unit that
handled the case). Provenance: /work/shared/data/README.md and models/data/README.md (research and evaluation
material, no licence stated).

Output (stdout): one JSON line per mapped work order, keys in this order:
    {"id", "source": "hk", "text", "category", "department"?, "sure", "haikou": "l1/l2/l3/l4", "haikou_department"}
The text is NOT masked here; pipe the output through paidan's own PII masking. The full command, from the
repository root:

    python3 models/data/map_haikou.py --data /work/shared/data/haikou_train.jsonl \
        | cargo run -q -p paidan-text --example mask_jsonl > models/data/haikou_v1.jsonl

A summary (rows per v1 category, department coverage, rows left out and why) goes to stderr as Markdown;
`--stats-only` prints only the summary. Python 3 standard library only; deterministic (input order, no
randomness).

How a row is mapped
-------------------
* category: the rules of haikou_rules.tsv (beside this script). Each rule names a label path "l1/l2/l3/l4" in which "*" matches any value.
  Of the rules matching a row, the most specific one decides (a fixed l4 outweighs a fixed l3, which outweighs
  a fixed l2, which outweighs a fixed l1; two different rules tying is an error). A rule either
    - maps the path to one v1 code (`sure` = True where the path is unambiguous, False where the code is the
      most likely of two v1 categories),
    - or, for the small 数字城管 classes whose texts are noisy, passes the text through a keyword gate:
      a gate of one (regex, code) keeps the row only if its text matches (the rest are label noise and left
      out), and one of several lets the first matching keyword choose between two v1 codes (then sure=False),
    - or leaves the path out on purpose (`skip:<reason>`): bookkeeping classes (“12345”热线, 其他, 信息咨询 ...),
      paths mixing several v1 categories, topics without a v1 category, paths whose texts do not match the label.
  A path no rule matches is left out ("no rule": rare paths not reviewed).
* department: haikou_units.tsv maps the handling unit's name (as the platform records it) to a v1 department code
  where that is clear. Unclear units (人民政府, 政府服务中心, project headquarters, state-owned investment
  companies ...) are listed there with department "-" and the row gets no "department" key (the trainer treats a missing
  label as "no label for this head"). The department is the unit that actually handled the case, which is what
  the v1 guideline uses when a reply names the handling unit.
"""

import argparse
import collections
import json
import os
import re
import sys

# ---------------------------------------------------------------------------------------------------------
# The tables: haikou_rules.tsv (label path -> v1 category) and haikou_units.tsv (处置单位 -> v1 department),
# beside this script; their headers say what each column means.

HERE = os.path.dirname(os.path.abspath(__file__))

# Reasons for leaving a path out on purpose (skip:<name> in haikou_rules.tsv; used in the summary).
REASONS = {
    "bookkeeping": "bookkeeping / mixed catch-all class",
    "mixed": "path mixes several v1 categories",
    "no_v1": "topic without a v1 category",
    "mismatch": "the path's texts do not match its label",
}
SURE = {"true": True, "false": False, "": None}


def read_tsv(name, columns):
    """The rows of a tab-separated table beside this script: '#' lines are comments, the first other line the header."""
    rows, header = [], None
    with open(os.path.join(HERE, name), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            cells = line.split("\t")
            if len(cells) != len(columns) or (header is None and cells != columns):
                raise ValueError(f"{name}:{n}: want the {len(columns)} columns {columns}: {line!r}")
            if header is None:
                header = cells
            else:
                rows.append(cells)
    return rows


def rule_target(target, gate):
    """A rule's target: a v1 code, ("skip", reason) or ("gate", [(regex, code or None), ...])."""
    if target.startswith("skip:"):
        return ("skip", REASONS[target[len("skip:"):]])
    if target == "gate":
        return ("gate", [tuple(alt) for alt in json.loads(gate)])
    return target


# (path, target, sure); sure is None for skip.
CATEGORY_RULES = [
    (path, rule_target(target, gate), SURE[sure])
    for path, target, sure, gate, _note in read_tsv("haikou_rules.tsv", ["path", "target", "sure", "gate", "note"])
]
_UNITS = read_tsv("haikou_units.tsv", ["unit", "department", "note"])
DEPARTMENTS = {unit: dept for unit, dept, _note in _UNITS if dept != "-"}
UNCLEAR_UNITS = {unit for unit, dept, _note in _UNITS if dept == "-"}

# ---------------------------------------------------------------------------------------------------------

V1_CATEGORIES = [
    "clutter", "illegal_structure", "illegal_posting", "illegal_hanging", "street_vending", "illegal_drying",
    "illegal_digging", "littering_dumping", "illegal_discharge", "flyer_distribution", "noise_construction",
    "noise_social", "cooking_fumes", "dust_muck", "sanitation", "road_facility", "greenery", "water_pollution",
    "other_pollution", "parking_traffic", "property_management", "housing_demolition", "planning_construction",
    "public_transport", "public_security", "market_regulation", "education", "labor_social_security", "health",
    "utilities", "other",
]
V1_DEPARTMENTS = [
    "urban_management", "housing_construction", "natural_resources_planning", "ecology_environment",
    "public_security", "traffic_police", "transport", "water_resources", "market_regulation", "education",
    "human_resources_social_security", "health_commission", "subdistrict_office", "public_utilities", "other",
]
LEVEL_WEIGHT = (1, 2, 4, 8)  # l1, l2, l3, l4: a fixed deeper level outweighs all shallower ones together


class Rule:
    def __init__(self, index, path, target, sure):
        parts = path.split("/")
        if len(parts) != 4:
            raise ValueError(f"rule {path!r}: need 4 levels")
        self.index, self.path, self.parts, self.sure = index, path, parts, sure
        self.score = sum(w for w, p in zip(LEVEL_WEIGHT, parts) if p != "*")
        self.kind, self.gate, self.code, self.reason = "map", None, None, None
        if isinstance(target, str):
            self.code = target
            codes = [target]
        elif target[0] == "skip":
            self.kind, self.reason, codes = "skip", target[1], []
        else:
            self.kind = "gate"
            self.gate = [(re.compile(rx), code) for rx, code in target[1]]
            codes = [code for _, code in target[1] if code is not None]
        for code in codes:
            if code not in V1_CATEGORIES:
                raise ValueError(f"rule {path!r}: unknown v1 category {code!r}")
        if self.kind != "skip" and not isinstance(sure, bool):
            raise ValueError(f"rule {path!r}: sure must be True or False")

    def matches(self, levels):
        return all(p == "*" or p == v for p, v in zip(self.parts, levels))


RULES = [Rule(i, *r) for i, r in enumerate(CATEGORY_RULES)]
_dups = [p for p, k in collections.Counter(r.path for r in RULES).items() if k > 1]
assert not _dups, f"duplicate rule paths: {_dups}"
for _unit, _code in DEPARTMENTS.items():
    assert _code in V1_DEPARTMENTS, (_unit, _code)
assert not set(DEPARTMENTS) & UNCLEAR_UNITS


def decide_rule(levels):
    """The most specific rule matching a label path (None if no rule matches)."""
    best = [r for r in RULES if r.matches(levels)]
    if not best:
        return None
    top = max(r.score for r in best)
    best = [r for r in best if r.score == top]
    if len(best) > 1:
        raise ValueError(f"ambiguous rules for {'/'.join(levels)}: {[r.path for r in best]}")
    return best[0]


def map_row(row):
    """(output row or None, reason it was left out or None, rule)."""
    levels = (row["category_l1"], row["category"], row["category_l3"], row["category_l4"])
    rule = decide_rule(levels)
    if rule is None:
        return None, "no rule (rare path, not reviewed)", None
    if rule.kind == "skip":
        return None, rule.reason, rule
    code, sure = rule.code, rule.sure
    if rule.kind == "gate":
        code = "-"
        for rx, c in rule.gate:
            if rx.search(row["text"]):
                code = c
                break
        if code in ("-", None):
            return None, "keyword gate: this row's text does not match its path (row-level label noise)", rule
        if len(rule.gate) > 1:
            sure = False  # the keyword chose between two v1 categories
    out = {"id": row["id"], "source": "hk", "text": row["text"], "category": code}
    dept = DEPARTMENTS.get(row["department"])
    if dept is not None:
        out["department"] = dept
    out["sure"] = sure
    out["haikou"] = "/".join(levels)
    out["haikou_department"] = row["department"]
    return out, None, rule


def summary(total, mapped, left_out, unknown_units):
    """Markdown summary: rows per category, department coverage, rows left out and why."""
    lines = []
    by_cat = collections.Counter(r["category"] for r in mapped)
    by_cat_sure = collections.Counter(r["category"] for r in mapped if r["sure"])
    by_cat_dept = collections.Counter(r["category"] for r in mapped if "department" in r)
    n = len(mapped)
    with_dept = sum(1 for r in mapped if "department" in r)
    lines.append(f"{total:,} work orders → {n:,} mapped ({n / total:.1%}), {total - n:,} left out; "
                 f"{sum(1 for r in mapped if r['sure']):,} mapped rows sure, "
                 f"{with_dept:,} with a department ({with_dept / max(n, 1):.1%}).")
    lines.append("")
    lines.append("| v1 category | rows | sure | with department |")
    lines.append("|---|---:|---:|---:|")
    for c in V1_CATEGORIES:
        lines.append(f"| {c} | {by_cat[c]:,} | {by_cat_sure[c]:,} | {by_cat_dept[c]:,} |")
    lines.append(f"| **total** | **{n:,}** | **{sum(by_cat_sure.values()):,}** | **{with_dept:,}** |")
    lines.append("")
    by_dept = collections.Counter(r.get("department", "(none: unclear unit)") for r in mapped)
    lines.append("| department (from 处置单位) | rows |")
    lines.append("|---|---:|")
    for d in V1_DEPARTMENTS + ["(none: unclear unit)"]:
        if by_dept[d]:
            lines.append(f"| {d} | {by_dept[d]:,} |")
    lines.append("")
    reasons = collections.Counter(reason for reason, _ in left_out)
    lines.append("| left out because | rows |")
    lines.append("|---|---:|")
    for reason, k in reasons.most_common():
        lines.append(f"| {reason} | {k:,} |")
    lines.append("")
    paths = collections.Counter((reason, path) for reason, path in left_out)
    lines.append("Top paths left out (l1/l2/l3/l4):")
    lines.append("")
    lines.append("| path | rows | why |")
    lines.append("|---|---:|---|")
    for (reason, path), k in paths.most_common(25):
        lines.append(f"| {path} | {k:,} | {reason} |")
    if unknown_units:
        lines.append("")
        lines.append("Units in neither DEPARTMENTS nor UNCLEAR_UNITS (no department given): "
                     + ", ".join(f"{u} ({k})" for u, k in unknown_units.most_common()))
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", default="/work/shared/data/haikou_train.jsonl")
    ap.add_argument("--stats-only", action="store_true", help="print only the summary (stderr)")
    args = ap.parse_args()

    total, mapped, left_out = 0, [], []
    unknown_units = collections.Counter()
    with open(args.data, encoding="utf-8") as f:
        for line in f:
            if not line.strip():
                continue
            row = json.loads(line)
            total += 1
            out, reason, _ = map_row(row)
            if out is None:
                path = "/".join((row["category_l1"], row["category"], row["category_l3"], row["category_l4"]))
                left_out.append((reason, path))
                continue
            if row["department"] not in DEPARTMENTS and row["department"] not in UNCLEAR_UNITS:
                unknown_units[row["department"]] += 1
            mapped.append(out)
    if not args.stats_only:
        w = sys.stdout
        for r in mapped:
            w.write(json.dumps(r, ensure_ascii=False) + "\n")
        w.flush()
    print(summary(total, mapped, left_out, unknown_units), file=sys.stderr)


if __name__ == "__main__":
    main()
