#!/usr/bin/env bash
# The decoder and planner fuzz properties with many more cases than CI runs
# (proptest on stable Rust; cargo-fuzz needs nightly). Usage: bench/fuzz.sh [CASES]
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-100000}"
SG_FUZZ_CASES="$cases" cargo test --release -p shardgate-proxy --test fuzz_decoders
SG_FUZZ_CASES="$((cases / 20))" cargo test --release -p shardgate-router --test fuzz_statements
