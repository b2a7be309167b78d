#!/usr/bin/env bash
# Make sure bubblewrap (`bwrap`, Debian package `bubblewrap`) is installed and can start a
# sandbox: the class command and `nbgrader autograde` run every student's code inside one
# (grader/sandbox/), and tests/test_sandbox.py attacks it for real.
#
# Quick and silent when bwrap is already there; otherwise installs it with apt-get, as root or
# through passwordless sudo. Then checks that an unprivileged sandbox starts (user namespaces on).
#
# Usage: bash scripts/ensure_bwrap.sh
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/apt_install.sh"

try_sandbox() {
    bwrap --unshare-all --die-with-parent --uid 1000 --gid 1000 --ro-bind /usr /usr \
        --symlink usr/bin /bin --symlink usr/lib /lib --symlink usr/lib64 /lib64 -- /bin/true
}

if ! command -v bwrap >/dev/null 2>&1; then
    apt_can_install <<MSG
ensure_bwrap.sh: bubblewrap (bwrap) is missing; grading runs student code inside it.
This user can neither install packages (not root) nor use sudo without a password.
Ask an administrator to run:
    apt-get update && apt-get install -y bubblewrap
MSG
    apt_get_available <<MSG
ensure_bwrap.sh: no apt-get here (not Debian/Ubuntu); install bubblewrap with your package manager so that 'bwrap' is on PATH
MSG
    echo "ensure_bwrap.sh: installing bubblewrap (one-off)..." >&2
    apt_get_install bubblewrap
fi

if ! err=$(try_sandbox 2>&1); then
    cat >&2 <<MSG
ensure_bwrap.sh: bwrap is installed but cannot start a sandbox: $err
Unprivileged user namespaces are probably off. Enable them (as root):
    sysctl -w kernel.unprivileged_userns_clone=1   (Debian/Ubuntu)
    sysctl -w user.max_user_namespaces=15000
MSG
    exit 1
fi
