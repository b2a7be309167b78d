#!/usr/bin/env bash
# Make sure Debian's chromium (and fonts for readable screenshots) is installed for the browser
# tests (tests/test_browser.py).
#
# The tests drive /usr/bin/chromium through the `playwright` Python package; Playwright's own
# browser download is not used. Quick and silent when everything is already there; otherwise
# installs what is missing with apt-get, as root or through passwordless sudo. The lessons name key
# terms in Chinese too (隐藏状态, 困惑度, ...): fonts-wqy-zenhei draws them instead of empty boxes.
#
# Usage: bash scripts/ensure_chromium.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"

CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"  # overridable only to test this script
PACKAGES=(chromium fonts-dejavu-core fonts-liberation fonts-wqy-zenhei)

missing=()
if [ ! -x "$CHROMIUM" ]; then
    missing+=(chromium)
fi
for pkg in "${PACKAGES[@]:1}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$pkg")
    fi
done
if [ ${#missing[@]} -eq 0 ]; then
    exit 0
fi

apt_can_install <<MSG
ensure_chromium.sh: missing for the browser tests: ${missing[*]}.
This user can neither install packages (not root) nor use sudo without a password.
Ask an administrator to run:
    apt-get update && apt-get install -y ${PACKAGES[*]}
or skip the browser tests with: pytest -m "not browser"
MSG
apt_get_available <<MSG
ensure_chromium.sh: no apt-get here (not Debian/Ubuntu); install chromium so that $CHROMIUM exists, or skip the browser tests with: pytest -m "not browser"
MSG

echo "ensure_chromium.sh: installing ${missing[*]} (one-off, a minute or two)..." >&2
apt_get_install "${missing[@]}"

if [ ! -x "$CHROMIUM" ]; then
    echo "ensure_chromium.sh: apt-get finished but $CHROMIUM is still missing" >&2
    exit 1
fi
echo "ensure_chromium.sh: ready: $("$CHROMIUM" --version 2>/dev/null || echo chromium)" >&2
