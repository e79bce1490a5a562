#!/usr/bin/env bash
# Run every fuzz target for MINUTES minutes each (default 5), one after another.
#   fuzz/run.sh 10          # 10 minutes per target
#   fuzz/run.sh 1 sse_events  # one target only
# Needs a nightly toolchain (rustup toolchain install nightly) and cargo-fuzz
# (installed here with `cargo install cargo-fuzz` when missing). Crashes and their inputs
# land in fuzz/artifacts/<target>/; the corpus grows in fuzz/corpus/<target>/.
set -euo pipefail

minutes="${1:-5}"
shift || true
cd "$(dirname "$0")"

if ! [[ "$minutes" =~ ^[0-9]+$ ]] || [ "$minutes" -lt 1 ]; then
    echo "usage: fuzz/run.sh MINUTES [TARGET...]   (MINUTES: a whole number ≥ 1)" >&2
    exit 2
fi
if ! cargo +nightly --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: a nightly toolchain is needed: rustup toolchain install nightly" >&2
    exit 1
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz/run.sh: installing cargo-fuzz …" >&2
    cargo install cargo-fuzz --locked
fi

targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
    mapfile -t targets < <(cargo +nightly fuzz list)
fi

# Seeds: a few valid frames and SSE bodies so the fuzzer starts from real shapes.
mkdir -p corpus/sse_events
printf '\x01data: {"type":"response.output_text.delta","delta":"hi"}\n\ndata: {"type":"response.completed","response":{"usage":null}}\n\n' \
    > corpus/sse_events/seed-basic

secs=$((minutes * 60))
status=0
for t in "${targets[@]}"; do
    echo "== $t: ${minutes} min"
    mkdir -p "corpus/$t"
    if ! cargo +nightly fuzz run "$t" "corpus/$t" -- -max_total_time="$secs" -rss_limit_mb=2048; then
        echo "== $t FAILED: see fuzz/artifacts/$t/" >&2
        status=1
    fi
done
exit "$status"
