#!/usr/bin/env python3
"""Renders eval/results/cv/*.json (paidan cv and the Python baseline on the same folds) as Markdown."""
import argparse, json, os

NAMES = {
    "city": "City taxonomy v1: city_train + city_dev + city_more (10,221 rows scored; mapped Haikou rows at weight 0.2 "
            "and the taxonomy phrases as training-only rows in every fold, for both models)",
    "7class": "7-class gold labels, shared train_7class.jsonl (8,167 rows, pre-segmented text)",
    "7class_random": "7-class, random (ungrouped) 5-fold CV as published anchors split (near-duplicates may straddle folds)",
    "haikou": "Haikou 12345 with its own labels, shared haikou_train.jsonl (16,726 rows; 117+ units, 187 categories)",
}

def load(p):
    with open(p, encoding="utf-8") as f:
        return json.load(f)

def f3(v):
    return "—" if v is None else f"{v:.3f}"

def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="eval/results/cv")
    ap.add_argument("--out", default="eval/results/cv/CV.md")
    a = ap.parse_args()
    out = ["## Grouped 5-fold cross-validation (how the recipe was chosen)", "",
           "`bash eval/cv.sh` — `paidan cv` (folds grouped as `eval/split.py` groups, fold seed `paidan-cv`) and "
           "`eval/baselines/cv_baseline.py` (jieba + tf-idf word 1–2-grams + char 1–3-grams + LinearSVC, C=1) trained "
           "and scored on exactly the same folds and rows. Pooled over the out-of-fold predictions of all folds.", ""]
    for s in ["city", "7class", "7class_random", "haikou"]:
        p, q = os.path.join(a.results, f"{s}.json"), os.path.join(a.results, f"{s}_py.json")
        if not os.path.exists(p):
            continue
        r = load(p)
        b = load(q) if os.path.exists(q) else {}
        out += [f"### {NAMES[s]}", "",
                "| head | measure | paidan | Python baseline | difference |", "|---|---|---|---|---|"]
        for head in ["category", "department"]:
            h = r.get(head)
            if not h:
                continue
            bh = b.get(head) or {}
            for m, key in [("accuracy", "accuracy"), ("macro-F1", "macro_f1")]:
                ours, theirs = h[key], bh.get(key)
                diff = "" if theirs is None else f"{ours - theirs:+.3f}"
                out.append(f"| {head} | {m} | {ours:.3f} | {f3(theirs)} | {diff} |")
        if r.get("department_joint_accuracy") is not None and r.get("category"):
            out.append(f"| department | accuracy, jointly with category (prior weight {r['category_prior']:.2f}) | "
                       f"{r['department_joint_accuracy']:.3f} | | |")
        if r.get("department_served_accuracy") is not None:
            out.append(f"| department | accuracy as served (routing table below p = {r['route_below']:.2f}) | "
                       f"{r['department_served_accuracy']:.3f} | | |")
        out.append("")
        autos = r.get("automation") or []
        if autos:
            out.append("Auto-routing on the out-of-fold predictions (" + r["automation_score"] + "): " + "; ".join(
                f"{c['coverage'] * 100:.1f} % of cases at ≥ {c['target'] * 100:.0f} % right (cut {c['threshold']:.3f})"
                for c in autos) + ".")
        sets = r.get("per_set") or {}
        if len(sets) > 1:
            out.append("Per source: " + "; ".join(
                f"{k} {v['rows']} rows, category {f3(v['category_accuracy'])}, department {f3(v['department_accuracy'])}"
                for k, v in sets.items()) + ".")
        out += ["", f"Recipe: `{json.dumps(r['recipe'], ensure_ascii=False)}`, unsure weight {r['unsure_weight']}, "
                    f"phrase weight {r['phrase_weight']}; {r['rows_scored']} rows scored, {r['rows_train_only']} "
                    f"training-only; {r['seconds']:.0f} s.", ""]
    with open(a.out, "w", encoding="utf-8") as f:
        f.write("\n".join(out) + "\n")

if __name__ == "__main__":
    main()
