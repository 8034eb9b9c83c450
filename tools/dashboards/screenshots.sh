#!/usr/bin/env bash
# `make screenshots`: docs/images/<view>.png for every shipped dashboard, drawn in the dark theme from
# the current definitions and tests/dashboards/<view>.rows.json. Refuses to draw invalid dashboards.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$REPO_ROOT"

ensure_node_packages
ensure_chromium
shopt -s nullglob
views=(default/data/ui/views/*.xml)
dashboards_cli validate "${views[@]}"
dashboards_cli render --theme dark --out-dir docs/images "${views[@]}"
for view in "${views[@]}"; do
    echo "$(screenshot_sources_hash "$view")  $(basename "$view" .xml)"
done >"$SCREENSHOT_STAMP"
