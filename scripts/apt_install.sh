# Sourced by scripts/ensure_*.sh: installing Debian packages as root or through passwordless sudo.
#
#   apt_can_install <<MSG ... MSG     sets APT_SUDO ("" as root, "sudo -n" with passwordless
#                                     sudo); else prints the message (stdin) and exits 1
#   apt_get_available <<MSG ... MSG   exits 1 with the message when there is no apt-get
#   apt_get_install PACKAGE...        apt-get update, then install without recommends, quietly
#
# Each script keeps its own messages: they arrive on stdin and are read only when printed.

apt_can_install() {
    if [ "$(id -u)" -eq 0 ]; then
        APT_SUDO=""
    elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        APT_SUDO="sudo -n"
    else
        cat >&2
        exit 1
    fi
}

apt_get_available() {
    if ! command -v apt-get >/dev/null 2>&1; then
        cat >&2
        exit 1
    fi
}

apt_get_install() {
    export DEBIAN_FRONTEND=noninteractive
    $APT_SUDO apt-get update -qq
    $APT_SUDO apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}
