#!/usr/bin/env bash
# What the page and the browser test need, installed when missing, from the distribution's
# and npm's registries, pinned (never a browser download: puppeteer-core fetches none).
#
#   setup.sh page       Node.js (Debian's nodejs and npm when there is no node >= 18), the
#                       page's packages as package-lock.json pins them (npm ci), and the page's
#                       bundle (esbuild): for `make serve` and the test
#   setup.sh chromium   Chromium as chromium.txt pins it, from Debian's packages: for the test
#
# Each step is skipped when already done (the lockfile installed, the bundle newer than its
# sources, the pinned Chromium installed). Installing a package needs root or sudo.
set -euo pipefail
cd "$(dirname "$0")"

# apt-get as root, or through sudo when it asks no password; otherwise say what to install.
apt_install() {
    local runner=()
    if [[ $EUID -ne 0 ]]; then
        if sudo -n true 2>/dev/null; then
            runner=(sudo -n)
        else
            echo "tests/browser/setup.sh: installing $* needs root; run as root, or install it: apt-get install $*" >&2
            exit 1
        fi
    fi
    # A fresh machine may have no package lists yet, or lists older than the pin.
    if ! apt-cache show "$@" >/dev/null 2>&1; then
        "${runner[@]}" apt-get update -qq
    fi
    local log
    log=$(mktemp)
    if ! DEBIAN_FRONTEND=noninteractive "${runner[@]}" apt-get install -y -q --no-install-recommends \
        --allow-downgrades "$@" >"$log" 2>&1; then
        cat "$log" >&2
        rm -f "$log"
        echo "tests/browser/setup.sh: apt-get install $* failed (above)" >&2
        exit 1
    fi
    rm -f "$log"
}

node_major() {
    node --version 2>/dev/null | sed -E 's/^v([0-9]+).*/\1/'
}

page() {
    if [[ $(node_major || echo 0) -lt 18 ]] || ! command -v npm >/dev/null; then
        echo "Installing Node.js and npm from the distribution's packages (the page's build and the browser test)"
        apt_install nodejs npm
    fi
    # npm writes node_modules/.package-lock.json as it installs: newer than the lockfile
    # means installed from it.
    if [[ ! node_modules/.package-lock.json -nt package-lock.json ]]; then
        echo "Installing the page's npm packages, as package-lock.json pins them (npm ci)"
        npm ci --no-audit --no-fund --loglevel=error
    fi
    if [[ ! -f dist/page.js || -n $(find src index.html package-lock.json -newer dist/page.js -print -quit) ]]; then
        npm run --silent build
    fi
}

chromium() {
    local pin want have
    pin=$(grep -E '^chromium=' chromium.txt)
    want=${pin#chromium=}
    have=$(dpkg-query -W -f='${Version}' chromium 2>/dev/null || true)
    [[ $have == "$want" ]] && return
    if apt-cache show "$pin" >/dev/null 2>&1 || { apt-get update -qq 2>/dev/null || true; apt-cache show "$pin" >/dev/null 2>&1; }; then
        echo "Installing Chromium $want from the distribution's packages (once, about 10 s)"
        apt_install "$pin"
        return
    fi
    # Debian's security archive keeps the newest build only: once a fix replaces the pinned
    # one, it cannot be installed any more. The newest of the same release is then used and
    # said, rather than failing every run until the pin is moved.
    echo "tests/browser/setup.sh: the distribution no longer has chromium $want (chromium.txt);" \
        "a security update replaced it. Using $( [[ -n $have ]] && echo "the installed $have" || echo "its newest")" \
        "instead: move the pin in tests/browser/chromium.txt to it." >&2
    [[ -n $have ]] || apt_install chromium
}

case ${1:-} in
page) page ;;
chromium) chromium ;;
*)
    echo "usage: $0 page|chromium" >&2
    exit 2
    ;;
esac
