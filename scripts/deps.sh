#!/usr/bin/env bash
# Installs what shardgate's tests and quick start need on a fresh Debian machine, and nothing
# else: mariadb-server, mariadb-client, sysbench, and the clients of the client matrix
# (scripts/client-deps.sh; `--servers-only` leaves those out, as the quick start does).
# Idempotent: installs only what is missing.
set -euo pipefail

clients=yes
if [ "${1:-}" = "--servers-only" ]; then
  clients=no
fi
matrix() {
  if [ "$clients" = yes ]; then
    exec bash "$(dirname "$0")/client-deps.sh"
  fi
  exit 0
}

missing=()
have() { command -v "$1" >/dev/null 2>&1 || [ -x "/usr/sbin/$1" ]; }
have mariadbd || missing+=(mariadb-server)
have mariadb-install-db || missing+=(mariadb-server)
have mariadb || missing+=(mariadb-client)
have sysbench || missing+=(sysbench)

if [ "${#missing[@]}" -eq 0 ]; then
  matrix
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
  sudo="sudo"
fi
# De-duplicate, keep order.
mapfile -t packages < <(printf '%s\n' "${missing[@]}" | awk '!seen[$0]++')
echo "scripts/deps.sh: installing ${packages[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
# The package's own service is not wanted: tests start throwaway servers of their own.
$sudo apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
matrix
