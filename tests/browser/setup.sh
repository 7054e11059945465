#!/usr/bin/env bash
# What the page and the browser test need, installed when missing, from the distribution's
# and npm's registries, pinned (never a browser download: puppeteer-core fetches none).
#
#   setup.sh page [--optional]   Node.js (the distribution's nodejs and npm when there is no
#                                node >= 18), the page's packages as package-lock.json pins
#                                them (npm ci), and the page's bundle (esbuild). --optional
#                                (make serve) says why and succeeds when Node.js cannot be had:
#                                the API is served without the page
#   setup.sh chromium            Chromium as chromium.txt pins it, from the distribution's
#                                packages (the browser test)
#
# Each step is skipped when already done (the lockfile installed, the bundle newer than its
# sources, the pinned Chromium installed). Installing a package needs root or sudo.
set -euo pipefail
cd "$(dirname "$0")"

# Runs a command as root: directly, or through sudo when it asks no password. Returns 1,
# having said what to do, when neither can.
as_root() {
    if [[ $EUID -eq 0 ]]; then
        "$@"
    elif sudo -n true 2>/dev/null; then
        sudo -n "$@"
    else
        echo "tests/browser/setup.sh: \`$*\` needs root; run it as root, or make test as root" >&2
        return 1
    fi
}

# Whether the package lists know `package` or `package=version`.
known() {
    [[ -n $(apt-cache show "$1" 2>/dev/null) ]]
}

# apt-get install, its output shown only when it fails. A fresh machine may have no package
# lists yet, or lists older than a pin: they are updated first when they lack the package.
apt_install() {
    known "$1" || as_root apt-get update -qq || return 1
    local log status=0
    log=$(mktemp)
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
        --allow-downgrades "$@" >"$log" 2>&1 || status=$?
    ((status == 0)) || cat "$log" >&2
    rm -f "$log"
    return "$status"
}

node_major() {
    local version
    version=$(node --version 2>/dev/null) || version=v0
    version=${version#v}
    echo "${version%%.*}"
}

page() {
    local optional=${1:-}
    if (($(node_major) < 18)) || ! command -v npm >/dev/null; then
        echo "Installing Node.js and npm from the distribution's packages (the front end's page)"
        if ! apt_install nodejs npm || (($(node_major) < 18)); then
            echo "tests/browser/setup.sh: the page needs Node.js 18 or later with npm (the" \
                "distribution's is $(node --version 2>/dev/null || echo "not installable here"))" >&2
            [[ $optional == --optional ]] && echo "Serving the API without the front end's page" >&2 && return 0
            return 1
        fi
    fi
    # npm writes node_modules/.package-lock.json as it installs: newer than the lockfile
    # means installed from it. The OpenTelemetry packages declare `node >= 22` for their
    # Node.js use; the page only bundles them for the browser, which Node 18 does.
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
    # Installed means dpkg's `ii`; a removed package keeps its version in state `rc`.
    have=$(dpkg-query -W -f='${db:Status-Abbrev}${Version}' chromium 2>/dev/null || true)
    [[ $have == ii* ]] && have=${have#ii } || have=
    [[ $have == "$want" ]] && return
    if known "$pin" || { as_root apt-get update -qq && known "$pin"; }; then
        echo "Installing Chromium $want from the distribution's packages (once, about 10 s)"
        apt_install "$pin"
        return
    fi
    # Debian's security archive keeps the newest build only: once a fix replaces the pinned
    # one, it cannot be installed any more. The newest of the same release is then used and
    # said, rather than failing every run until the pin is moved.
    known chromium || {
        echo "tests/browser/setup.sh: the package lists have no chromium" >&2
        return 1
    }
    echo "tests/browser/setup.sh: the distribution no longer has chromium $want (chromium.txt);" \
        "a security update replaced it. Using $([[ -n $have ]] && echo "the installed $have" || echo "its newest")" \
        "instead: move the pin in tests/browser/chromium.txt to it." >&2
    [[ -n $have ]] || apt_install chromium
}

case ${1:-} in
page) page "${2:-}" ;;
chromium) chromium ;;
*)
    echo "usage: $0 page [--optional] | chromium" >&2
    exit 2
    ;;
esac
