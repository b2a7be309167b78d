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
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"

have_server() {
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}

if have_server; then
    exit 0
fi
apt_can_install <<MSG
ensure_postgres.sh: PostgreSQL's server is missing and this user cannot install it; ask an administrator to run: apt-get update && apt-get install -y postgresql
MSG
apt_get_available <<MSG
ensure_postgres.sh: no apt-get here (not Debian/Ubuntu); install PostgreSQL's server (initdb, pg_ctl, postgres) with your package manager
MSG
echo "ensure_postgres.sh: installing postgresql (one-off)..." >&2
# policy-rc.d keeps the package from starting a system cluster in a container without init.
apt_get_install postgresql
have_server || { echo "ensure_postgres.sh: initdb still missing after the install" >&2; exit 1; }
