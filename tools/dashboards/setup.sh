# Sourced by check.sh and screenshots.sh: brings a fresh clone to the point where the tooling runs.
# Installs only what is missing: the pinned npm packages (npm ci when node_modules is absent or was
# installed from another package-lock.json) and Debian's Chromium (apt, as root or through sudo).

TOOL_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_ROOT="$(cd "$TOOL_DIR/../.." && pwd)"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
export CHROMIUM

ensure_node_packages() {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "dashboards: Node.js 20+ and npm are required (https://nodejs.org or apt-get install nodejs npm)" >&2
        return 1
    fi
    local lock_hash stamp="$TOOL_DIR/node_modules/.package-lock.sha256"
    lock_hash="$(sha256sum "$TOOL_DIR/package-lock.json" | cut -d' ' -f1)"
    if [[ -f "$stamp" && "$(cat "$stamp")" == "$lock_hash" ]]; then
        return 0
    fi
    echo "dashboards: npm ci (node_modules missing or from another package-lock.json)"
    (cd "$TOOL_DIR" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$lock_hash" >"$stamp"
}

ensure_chromium() {
    if [[ -x "$CHROMIUM" ]]; then
        return 0
    fi
    local sudo=()
    if [[ "$(id -u)" -ne 0 ]]; then
        if ! command -v sudo >/dev/null; then
            echo "dashboards: $CHROMIUM is missing; run as root: apt-get update && apt-get install -y chromium" >&2
            return 1
        fi
        sudo=(sudo -n)
    fi
    echo "dashboards: installing Chromium with apt-get (once)"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq chromium >/dev/null
    if [[ ! -x "$CHROMIUM" ]]; then
        echo "dashboards: apt-get installed chromium but $CHROMIUM does not exist; set CHROMIUM=/path/to/it" >&2
        return 1
    fi
}

dashboards_cli() {
    node "$TOOL_DIR/cli.js" "$@"
}

# Hash of everything a screenshot is drawn from: the view, its rows, the page and the pinned packages.
# screenshots.sh records it next to the PNGs; check.sh fails when a PNG is older than its sources.
SCREENSHOT_STAMP="$REPO_ROOT/docs/images/screenshots.sha256"
screenshot_sources_hash() {
    local view_file="$1" name
    name="$(basename "$view_file" .xml)"
    cat "$view_file" "$REPO_ROOT/tests/dashboards/$name.rows.json" "$TOOL_DIR/package-lock.json" \
        "$TOOL_DIR/page/index.jsx" "$TOOL_DIR/lib/renderView.js" "$TOOL_DIR/lib/sampleData.js" 2>/dev/null \
        | sha256sum | cut -d' ' -f1
}
