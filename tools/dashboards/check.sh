#!/usr/bin/env bash
# `make dashboards` (part of `make test`): validates every shipped dashboard, proves the validator and
# the renderer catch what they claim to catch, and renders each dashboard once.
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/setup.sh"
cd "$REPO_ROOT"

FIXTURES=tests/dashboards/fixtures
# Each broken fixture has exactly one defect; the validator must report exactly it (one line).
declare -A EXPECTED=(
    [broken_viz_type]='visualizations.viz_by_action.type: "splunk.barchart" is not an allowed value'
    [broken_option]='visualizations.viz_by_action.options.legendDisplay: "sideways" is not an allowed value'
    [broken_missing_datasource]='visualizations.viz_by_action.dataSources.primary: names data source "ds_by_actoin", which is not defined'
    [broken_chain_extend]='dataSources.ds_top.options.extend: extends "ds_base", which is not defined'
    [broken_no_macro]='dataSources.ds_by_action.options.query: search uses none of the macros `ringcentral_audit_index`'
    [broken_unset_token]='dataSources.ds_by_action.options.query: uses token $action$, which no input or default sets'
)
# Rendering render_failures.xml must flag exactly these panels: one with no results, one whose search
# fails, one chart whose rows it cannot plot (viz_ok must pass).
EXPECTED_RENDER=(
    'render_failures: render: viz_empty: warning icon'
    'render_failures: render: viz_failing: error icon'
    'render_failures: render: viz_unplottable: splunk.column chart draws nothing'
)

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

ensure_node_packages
ensure_chromium

shopt -s nullglob
VIEWS=(default/data/ui/views/*.xml)
[[ ${#VIEWS[@]} -gt 0 ]] || fail "no dashboards in default/data/ui/views"
echo "== validate shipped dashboards"
dashboards_cli validate "${VIEWS[@]}" || fail "a shipped dashboard is invalid (lines above: dashboard: item: problem; fix)"

echo "== validator self-test: fixtures that must pass and must fail"
dashboards_cli validate "$FIXTURES/valid_sample.xml" "$FIXTURES/render_failures.xml" >/dev/null \
    || fail "valid fixtures were rejected"
broken=("$FIXTURES"/broken_*.xml)
# One run for all of them (compiling Splunk's schema is the slow part); lines start with "<fixture>: ".
output="$(dashboards_cli validate "${broken[@]}" || true)"
for fixture in "${broken[@]}"; do
    name="$(basename "$fixture" .xml)"
    expected="${EXPECTED[$name]:-}"
    lines="$(grep "^$name: " <<<"$output" || true)"
    if [[ -z "$expected" ]]; then
        fail "$fixture has no expected message in check.sh"
    elif [[ "$(grep -c . <<<"$lines")" -ne 1 || "$lines" != *"$name: $expected"* ]]; then
        fail "$name: expected exactly one problem containing '$expected', got:"$'\n'"${lines:-(none)}"
    else
        echo "$name: rejected as expected"
    fi
done
# A deleted fixture must not let its check silently disappear.
for name in "${!EXPECTED[@]}"; do
    [[ -f "$FIXTURES/$name.xml" ]] || fail "$FIXTURES/$name.xml is missing"
done

echo "== unit tests of the checks"
node --test --test-reporter=dot tests/dashboards/ || fail "node unit tests"

echo "== render each dashboard once, plus a fixture with broken panels"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT
# One browser for all: the schema snapshot is compared with a fresh capture, then every view is drawn.
set +e
output="$(dashboards_cli render --check-schema --out-dir "$out" "${VIEWS[@]}" "$FIXTURES/render_failures.xml")"
status=$?
set -e
grep -v '^render_failures: ' <<<"$output" || true
[[ $status -eq 1 ]] || fail "render: expected exit 1 (from render_failures only), got $status"
[[ "$output" == *"enterprise-view-only.json: matches a fresh capture"* ]] \
    || fail "schema snapshot is stale: run node tools/dashboards/cli.js capture-schema"
for view in "${VIEWS[@]}"; do
    name="$(basename "$view" .xml)"
    if grep -q "^$name: render: " <<<"$output" || ! grep -q "^$name: rendered " <<<"$output"; then
        fail "$name did not render with data in every panel (lines above)"
    fi
done
fixture_lines="$(grep '^render_failures: ' <<<"$output" || true)"
render_ok=1
for line in "${EXPECTED_RENDER[@]}"; do
    [[ "$fixture_lines" == *"$line"* ]] || render_ok=0
done
[[ "$(grep -c . <<<"$fixture_lines")" -eq ${#EXPECTED_RENDER[@]} ]] || render_ok=0
if [[ $render_ok -eq 1 ]]; then
    echo "render_failures: empty, failing and unplottable panels detected as expected"
else
    fail "render_failures: expected exactly the viz_empty, viz_failing and viz_unplottable problems, got:"$'\n'"${fixture_lines:-(none)}"
fi

echo "== README screenshots were drawn from the current dashboards"
for view in "${VIEWS[@]}"; do
    name="$(basename "$view" .xml)"
    recorded="$(awk -v n="$name" '$2 == n { print $1 }' "$SCREENSHOT_STAMP" 2>/dev/null || true)"
    if [[ ! -f "docs/images/$name.png" || "$recorded" != "$(screenshot_sources_hash "$view")" ]]; then
        fail "docs/images/$name.png is missing or older than its dashboard or rows: run make screenshots"
    else
        echo "$name: docs/images/$name.png is current"
    fi
done

if [[ $failures -ne 0 ]]; then
    echo "dashboards: $failures check(s) failed" >&2
    exit 1
fi
echo "dashboards: all checks passed"
