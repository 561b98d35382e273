#!/usr/bin/env bash
# After the test suite: no password may appear in any log line it kept. Every test process
# logs shardgate's lines at DEBUG (and the shardgate processes it starts their standard
# error) into target/debug/test-logs, with the suite's canary passwords listed in
# canary-secrets.txt (tests/src/test_log.rs): client and backend account passwords and
# passwords written in statements.
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${CARGO_TARGET_DIR:-target}/debug/test-logs"
secrets="$dir/canary-secrets.txt"
if [ ! -s "$secrets" ]; then
  echo "check_test_logs: $secrets is missing: the suite kept no logs" >&2
  exit 1
fi
mapfile -t logs < <(find "$dir" -name '*.log' -type f)
if [ "${#logs[@]}" -eq 0 ]; then
  echo "check_test_logs: no log files in $dir" >&2
  exit 1
fi
if grep -nF -f "$secrets" "${logs[@]}" | cut -c1-300; then
  echo "check_test_logs: a password appears in the logs above" >&2
  exit 1
fi
lines=$(cat "${logs[@]}" | wc -l)
echo "test logs: ${#logs[@]} files, $lines lines, no password"
