#!/usr/bin/env bash
# Takeover figures of a three-node cluster over one PostgreSQL (issue 18): runs the cluster test
# (services/paidan/tests/cluster.rs: three `paidan serve` processes, writers retrying on the next
# node, node-1 SIGKILLed mid-load, then every check of the test) at a larger scale, in release,
# next to a throwaway PostgreSQL, and writes its figures into eval/BENCHMARKS.md between the
# `cluster.sh` markers:
# - takeover gap: from the SIGKILL to the first acknowledgement of a complaint sent after it for
#   a partition the killed node held (its leases run out after 5 s, the survivors take them at
#   their next round, each second);
# - p99 of SubmitComplaint (first send to acknowledgement, retries on other nodes included)
#   before the kill, and of the complaints sent during the gap.
#
# Run from anywhere:   bash eval/cluster.sh
# Knobs (environment): WRITERS=32 PER_WRITER=60 PROFILE=release (or dev) BENCH_OUT=target/bench-run
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${BENCH_OUT:-target/bench-run}
WRITERS=${WRITERS:-32}
PER_WRITER=${PER_WRITER:-60}
PROFILE=${PROFILE:-release}
mkdir -p "$OUT"
REPORT="$(realpath -m "$OUT")/cluster.json"
rm -f "$REPORT"

log() { printf '[cluster %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

FLAGS=()
[[ "$PROFILE" == release ]] && FLAGS+=(--release)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "cluster test ($PROFILE): 3 nodes, $WRITERS writers x $PER_WRITER complaints, one node killed"
PAIDAN_CLUSTER_WRITERS=$WRITERS PAIDAN_CLUSTER_PER_WRITER=$PER_WRITER PAIDAN_CLUSTER_REPORT="$REPORT" \
    scripts/pg-throwaway.sh cargo test "${FLAGS[@]}" -p paidan --test cluster -- --nocapture \
    2> >(grep -E '^cluster:|panicked|FAILED' >&2)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

python3 - "$REPORT" "$PROFILE" "$LOAD_START" "$LOAD_END" "$(nproc)" <<'PY'
import json, pathlib, re, sys
r = json.load(open(sys.argv[1]))
profile, load_start, load_end, cores = sys.argv[2:6]
ms = lambda v: "n/a" if v is None else f"{v:,.0f} ms"
section = f"""<!-- cluster.sh begin -->
### Cluster takeover (`eval/cluster.sh`)

Three `paidan serve` nodes ({profile} build) over one throwaway PostgreSQL 15 on this {cores}-core
machine (load average {load_start} at the start, {load_end} at the end: the machine was shared with
other builds), {r['writers']} writers sending {r['submits']:,} complaints of their own matters plus
reports of shared matters, each retried on the next node on an error; node-1 was SIGKILLed mid-load
holding {r['killed_partitions']} of the 64 partitions. Every check of `tests/cluster.rs` passed
(nothing acknowledged lost, each matter one case, every event delivered in per-case order).

| figure | value |
|---|---|
| takeover gap (kill → first acknowledgement in a partition the killed node held) | {ms(r['takeover_gap_ms'])} |
| SubmitComplaint p99 before the kill | {ms(r['p99_before_kill_ms'])} |
| SubmitComplaint p99, sent during the gap ({r['submits_during_takeover']} complaints) | {ms(r['p99_during_takeover_ms'])} |
| … of them in the killed node's partitions | {ms(r['p99_victim_partitions_during_takeover_ms'])} |
| load, whole run / after the kill | {r['load_seconds']:.1f} s / {r['load_after_kill_seconds']:.1f} s |

The gap is what was left of the dead node's leases (renewed every second, running out 5 s
after the last renewal, on the database's clock) plus up to one keeper round (1 s) of the
survivors, which cannot take a partition before its lease has run out. Complaints for the
other partitions go on being answered during it; the ones for the dead node's partitions wait in
the receiving node's router (up to 10 s) or are retried by the client, so the p99 during the gap
is about the gap itself. `eval/bench.sh` regenerates this file and carries this section over as it
was; rerun `eval/cluster.sh` to measure it again.
<!-- cluster.sh end -->"""
p = pathlib.Path("eval/BENCHMARKS.md")
text = p.read_text(encoding="utf-8")
pat = re.compile(r"<!-- cluster.sh begin -->.*?<!-- cluster.sh end -->", re.S)
if pat.search(text):
    text = pat.sub(lambda _: section, text)
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
p.write_text(text, encoding="utf-8")
print(section)
PY
log "done (raw figures in $REPORT)"
