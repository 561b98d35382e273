#!/usr/bin/env bash
# Installs the clients of the client matrix (tests/clients/README.md) where missing: Debian's
# packages (PHP, Go with go-sql-driver/mysql, Perl's DBD::MariaDB and DBD::mysql, Ruby's
# mysql2, MariaDB Connector/J, a JDK, Node.js), the Python clients from PyPI and Node's mysql2
# from npm. Called by scripts/deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
have() { command -v "$1" >/dev/null 2>&1; }
have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "ok installed"; }
have php || missing+=(php-cli)
php -m 2>/dev/null | grep -qi '^pdo_mysql$' || missing+=(php-mysql)
have go || missing+=(golang-go)
[ -d /usr/share/gocode/src/github.com/go-sql-driver/mysql ] || missing+=(golang-github-go-sql-driver-mysql-dev)
have_pkg libdbd-mariadb-perl || missing+=(libdbd-mariadb-perl)
have_pkg libdbd-mysql-perl || missing+=(libdbd-mysql-perl)
have_pkg ruby-mysql2 || missing+=(ruby-mysql2)
[ -f /usr/share/java/mariadb-java-client.jar ] || missing+=(libmariadb-java)
have javac || missing+=(default-jdk-headless)
# mysqlclient (Django's default driver) is built from source against these.
have_pkg libmariadb-dev || missing+=(libmariadb-dev)
have pkg-config || missing+=(pkg-config)
have gcc || missing+=(gcc)
have node || missing+=(nodejs)
have npm || missing+=(npm)

if [ "${#missing[@]}" -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "scripts/client-deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq >/dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! python3 tests/clients/check_python.py >/dev/null 2>&1; then
  echo "scripts/client-deps.sh: installing tests/clients/requirements.txt"
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore -r tests/clients/requirements.txt
  python3 tests/clients/check_python.py
fi

if [ ! -d tests/clients/node/node_modules/mysql2 ]; then
  echo "scripts/client-deps.sh: npm install in tests/clients/node"
  (cd tests/clients/node && npm install --no-audit --no-fund --silent)
fi
