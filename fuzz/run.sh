#!/usr/bin/env bash
# Runs every cargo-fuzz target (or the ones named) for a bounded time each and exits non-zero
# if any crashed. Usage: fuzz/run.sh [SECONDS] [TARGET...]   (default: 60 s each, all targets)
#
# Works on the stable toolchain: `--sanitizer none` (the default AddressSanitizer needs nightly's
# -Zsanitizer; our code is safe Rust, and panics, overflow checks and debug assertions are what
# the targets catch). Needs `cargo install cargo-fuzz` and a C++ compiler (libFuzzer is built
# from source by libfuzzer-sys).
#
# Environment: CARGO_TARGET_DIR (default fuzz/target), FUZZ_CORPUS (working corpus, default
# $CARGO_TARGET_DIR/corpus; the committed seeds in fuzz/seeds are read, never written).
# Crash inputs are written to fuzz/artifacts/TARGET/; once fixed, copy them into
# fuzz/regressions/TARGET/ — every run replays those first.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
secs=${1:-60}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(triage_pipeline dedup_pair request_decode)
fi

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$here/target}
corpus=${FUZZ_CORPUS:-$CARGO_TARGET_DIR/corpus}
fuzz=(cargo fuzz run --fuzz-dir "$here" --sanitizer none --release --debug-assertions)

failed=()
for t in "${targets[@]}"; do
    mkdir -p "$corpus/$t" "$here/artifacts/$t"
    if compgen -G "$here/regressions/$t/*" > /dev/null; then
        echo "== $t: replaying fuzz/regressions/$t"
        if ! "${fuzz[@]}" "$t" "$here"/regressions/"$t"/* -- -runs=1; then
            failed+=("$t (regression)")
            continue
        fi
    fi
    echo "== $t: fuzzing for ${secs}s (log: $CARGO_TARGET_DIR/fuzz-$t.log)"
    log="$CARGO_TARGET_DIR/fuzz-$t.log"
    if "${fuzz[@]}" "$t" "$corpus/$t" "$here/seeds/$t" -- \
        -max_total_time="$secs" -max_len=8192 -timeout=20 -rss_limit_mb=4096 \
        -print_final_stats=1 > "$log" 2>&1; then
        status=ok
    else
        status=FAILED
        failed+=("$t")
        tail -n 60 "$log" >&2
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "== $t: $status after ${secs}s, $execs executions, corpus $(ls "$corpus/$t" | wc -l) inputs"
done

if [ ${#failed[@]} -gt 0 ]; then
    echo "fuzz: FAILED: ${failed[*]}; crash inputs are in $here/artifacts/" >&2
    exit 1
fi
echo "fuzz: no crashes"
