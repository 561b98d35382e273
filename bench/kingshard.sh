#!/usr/bin/env bash
# kingshard (Go, github.com/flike/kingshard at 1fc233b7, built offline from its vendored
# source with Debian's golang-go) as a peer: sysbench oltp_point_select at 1 and 32 threads,
# ps modes disable and auto, against direct MariaDB, an haproxy TCP relay, kingshard and
# shardgate in alternation on one server, with each proxy's ratios to haproxy and direct.
#
# The same 1,024 physical tables of sbtest1 for both proxies: shardgate's 32 databases x 32
# tables (examples/sbtest-bench.yaml: database id % 32, table id / 32 % 32); kingshard
# keeps every sub-table of a node in one database, so its 1,024 are sbtest_ks.sbtest1_0000
# .. sbtest1_1023 (hash: id % 1024), loaded from the same rows.
#
# The source: KINGSHARD_SRC (a checkout) or KINGSHARD_GIT (a git directory holding the
# commit; the workplace's mirror by default). Without either the script says so and stops.
# Usage: bench/kingshard.sh [SECONDS_PER_RUN] (default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
rows=${ROWS:-100000}
commit=1fc233b7
git_dir=${KINGSHARD_GIT:-/work/.mirror/flike+kingshard/repo}

bash scripts/deps.sh
if ! command -v go >/dev/null 2>&1; then
  echo "bench: installing golang-go"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq golang-go >/dev/null
fi
cargo build --release --quiet --bin shardgate

source bench/lib.sh
bench_workdir kingshard

src=${KINGSHARD_SRC:-}
if [ -z "$src" ]; then
  if ! git --git-dir="$git_dir" cat-file -e "$commit^{commit}" 2>/dev/null; then
    echo "bench: no kingshard source: set KINGSHARD_SRC to a checkout or KINGSHARD_GIT to a clone holding $commit" >&2
    exit 1
  fi
  src="$work/kingshard-src"
  mkdir -p "$src"
  git --git-dir="$git_dir" archive "$commit" | tar -x -C "$src"
fi
echo "bench: building kingshard from $src (vendored modules, offline)"
(cd "$src" && GOFLAGS=-mod=vendor GOPROXY=off GOCACHE="$work/go-cache" go build -o "$work/kingshard" ./cmd/kingshard)

# MariaDB on 33071, haproxy on 33072, shardgate on 33073, kingshard on 33074.
start_mariadb db 33071 sbtest sbtest
create_sbtest_databases db
start_haproxy 33072 33071
start_shardgate

echo "bench: preparing $rows rows directly, through shardgate, and in kingshard's 1,024 tables"
sb 33071 sbtest oltp_point_select prepare >/dev/null
sb 33073 sbtest oltp_point_select prepare >/dev/null
{
  echo "CREATE DATABASE sbtest_ks;"
  for i in $(seq 0 1023); do
    t=$(printf 'sbtest1_%04d' "$i")
    echo "CREATE TABLE sbtest_ks.$t LIKE sbtest.sbtest1;"
    echo "INSERT INTO sbtest_ks.$t SELECT * FROM sbtest.sbtest1 WHERE id % 1024 = $i;"
  done
} | mariadb_sql db

cat >"$work/ks.yaml" <<'CFG'
addr: 127.0.0.1:33074
prometheus_addr: 127.0.0.1:33075
web_addr: 127.0.0.1:33076
web_user: admin
web_password: admin
user_list:
  - user: sbtest
    password: sbtest
log_level: error
log_sql: off
nodes:
  - name: node1
    max_conns_limit: 64
    user: sbtest
    password: sbtest
    master: 127.0.0.1:33071
    down_after_noalive: 0
schema_list:
  - user: sbtest
    nodes: [node1]
    default: node1
    shard:
      - db: sbtest_ks
        table: sbtest1
        key: id
        nodes: [node1]
        type: hash
        locations: [1024]
CFG
"$work/kingshard" -config="$work/ks.yaml" >"$work/kingshard.log" 2>&1 &
kingshard_pid=$!
pids+=($kingshard_pid)
sleep 1

warm_up 33071:sbtest 33072:sbtest 33073:sbtest 33074:sbtest_ks

results="$work/results"
point_selects "$results" direct:33071: "haproxy:33072:$haproxy_pid" \
  "kingshard:33074:$kingshard_pid:sbtest_ks" "shardgate:33073:$shardgate_pid"
echo
echo "ratios (QPS; average latency difference):"
point_select_ratios "$results" kingshard
point_select_ratios "$results" shardgate
