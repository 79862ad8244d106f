#!/usr/bin/env bash
# Checks deploy/: the alert rules load and pass their unit tests (promtool), and every metric the
# rules and the Grafana dashboard use is one paidan exports (README.md's metrics table).
# promtool comes from Debian's prometheus package; when it is not on PATH it is unpacked into a
# temporary directory (apt-get download + dpkg -x: nothing is installed, no service starts).
set -euo pipefail
cd "$(dirname "$0")"
promtool=$(command -v promtool || true)
if [ -z "$promtool" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    (cd "$tmp" && apt-get download prometheus >/dev/null 2>&1 && dpkg -x prometheus_*.deb x)
    promtool="$tmp/x/usr/bin/promtool"
fi
"$promtool" check rules prometheus/alerts.yml
(cd prometheus && "$promtool" test rules alerts_test.yml)
python3 - <<'PY'
import json, re, sys
readme = open("../README.md", encoding="utf-8").read()
table = readme.split("### Metrics", 1)[1].split("\n## ", 1)[0]
exported = set(re.findall(r"`(paidan_[a-z_]+)`", table))
def used(text):
    names = set(re.findall(r"\b(paidan_[a-z_]+)", text))
    return {re.sub(r"_(bucket|count|sum)$", "", n) for n in names}
dash = json.load(open("grafana/paidan.json", encoding="utf-8"))
exprs = " ".join(t["expr"] for p in dash["panels"] for t in p["targets"])
rules = open("prometheus/alerts.yml", encoding="utf-8").read()
missing = sorted((used(exprs) | used(rules)) - exported)
if missing:
    sys.exit(f"not exported by paidan (README metrics table): {missing}")
print(f"dashboard: {len(dash['panels'])} panels; {len(used(exprs) | used(rules))} metric names, all exported")
PY
