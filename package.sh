#!/usr/bin/env bash
# Builds dist/TA-audit-trail-<version>.spl: the app files plus third-party packages vendored into lib/
# as pure-Python wheels for Splunk's Python 3.9. Prints the path of the package it built.
#   ./package.sh            build the .spl
#   ./package.sh --stage    only refresh build/TA-audit-trail (what the tests run)
set -euo pipefail
cd "$(dirname "$0")"

APP=TA-audit-trail
PYTHON=${PYTHON:-python3}
VERSION=$(sed -n 's/^version *= *//p' default/app.conf | head -1)
BUILD=build
STAGE=$BUILD/$APP
# The vendored tree depends only on requirements.txt, so it is cached under its hash.
REQ_HASH=$(sha256sum requirements.txt | cut -c1-16)
VENDOR=$BUILD/vendor-$REQ_HASH

# pip's warnings about this machine's unused index locations are noise here.
quiet_pip() { "$PYTHON" -m pip "$@" 2> >(grep -v -e '^WARNING: Location' -e 'Running pip as the' >&2); }

vendor() {
    local tmp="$BUILD/vendor-tmp.$$"
    rm -rf "$tmp"
    mkdir -p "$tmp/wheels"
    # splunk-sdk and observable publish only sdists, which --only-binary rejects: build their wheels first.
    quiet_pip wheel -q --no-deps -w "$tmp/wheels" \
        "$(grep -E '^splunk-sdk==' requirements.txt)" "$(grep -E '^observable==' requirements.txt)"
    # --platform any + --abi none accept only py3-none-any wheels: no compiled speedups land in lib/.
    quiet_pip install -q --no-compile --no-deps --target "$tmp/lib" --python-version 3.9 --implementation py \
        --abi none --platform any --only-binary=:all: --find-links "$tmp/wheels" -r requirements.txt
    rm -rf "$tmp/lib/bin"
    find "$tmp/lib" -name '__pycache__' -prune -exec rm -rf {} +
    find "$tmp/lib" -name 'tests' -path '*/certifi/*' -prune -exec rm -rf {} +
    if find "$tmp/lib" -name '*.so' -o -name '*.pyd' -o -name '*.dylib' | grep -q .; then
        echo "package.sh: compiled files in the vendored lib; pin a pure-Python release" >&2
        exit 1
    fi
    rm -rf "$VENDOR"
    mv "$tmp/lib" "$VENDOR"
    rm -rf "$tmp"
}

[ -d "$VENDOR" ] || vendor

rm -rf "$STAGE"
mkdir -p "$STAGE"
for item in app.manifest LICENSE README.txt default bin lib README metadata static lookups; do
    [ -e "$item" ] && cp -R "$item" "$STAGE/"
done
# The admin guide ships with the app (README.txt points to it); developer material does not.
mkdir -p "$STAGE/docs"
cp -R docs/admin docs/images "$STAGE/docs/"
rm -f "$STAGE/docs/images/screenshots.sha256"
cp -R "$VENDOR/." "$STAGE/lib/"
# Nothing from a developer's machine: no local settings, caches or dot-files.
rm -rf "$STAGE/local" "$STAGE/metadata/local.meta"
find "$STAGE" \( -name '__pycache__' -o -name '*.pyc' -o -name '.*' \) -prune -exec rm -rf {} +
find "$STAGE" -type d -exec chmod 755 {} +
find "$STAGE" -type f -exec chmod 644 {} +
find "$STAGE/bin" -maxdepth 1 -name '*.py' -exec chmod 755 {} +

if [ "${1:-}" = "--stage" ]; then
    echo "$STAGE"
    exit 0
fi

mkdir -p dist
OUT=dist/$APP-$VERSION.spl
# Sorted names, fixed owner and mtime: the same tree always gives the same file list (and bytes).
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime='2026-01-01 00:00:00Z' \
    -C "$BUILD" -cf - "$APP" | gzip -n -9 > "$OUT"
echo "$OUT"
