#!/usr/bin/env bash
# Make sure PostgreSQL's server binaries (Debian package `postgresql`: initdb, pg_ctl, postgres)
# are installed: the tests start a real, throwaway PostgreSQL server for the gradebook
# (tests/postgres_server.py). Nothing is started here and no system cluster is used.
#
# Quick and silent when the binaries are there; otherwise installs them with apt-get, as root or
# through passwordless sudo.
#
# Usage: bash scripts/ensure_postgres.sh
set -euo pipefail

have_server() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if have_server; then
    exit 0
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO="sudo -n"
else
    echo "ensure_postgres.sh: PostgreSQL's server is missing and this user cannot install it;" \
        "ask an administrator to run: apt-get update && apt-get install -y postgresql" >&2
    exit 1
fi
echo "ensure_postgres.sh: installing postgresql (one-off)..." >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# policy-rc.d keeps the package from starting a system cluster in a container without init.
$SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
have_server || { echo "ensure_postgres.sh: initdb still missing after the install" >&2; exit 1; }
