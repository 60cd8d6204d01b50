#!/usr/bin/env bash
# Refreshes the browser assets embedded in the binary (assets/vendor/): the
# production builds of GraphiQL, React and ReactDOM (the admin console at
# /graphql) and Swagger UI (/docs), from their npm packages at the versions
# pinned below, each package's licence files beside them. Writes
# assets/vendor/VERSIONS (package, version, the registry's integrity) and
# assets/vendor/SHA256SUMS (checked by the tests against what is embedded).
# See docs/admin.md, "Refreshing the console's assets".
#
# Usage: scripts/refresh-console-assets.sh   (needs npm and node)
set -euo pipefail
cd "$(dirname "$0")/.."

# GraphiQL 4 and later ship no browser (UMD) build, and React 19 ships no UMD
# builds at all: GraphiQL 3 with React 18 is the newest pair a page can load
# without a bundler.
GRAPHIQL=3.9.0
REACT=18.3.1
SWAGGER_UI=5.35.0

vendor=assets/vendor
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# vendor PACKAGE VERSION FILE... : copies FILEs of PACKAGE@VERSION into
# assets/vendor/PACKAGE/ (flattened), replacing what was there.
vendor() {
  local package=$1 version=$2
  shift 2
  local meta
  meta=$(cd "$work" && npm pack --json --silent "$package@$version")
  local tarball integrity
  tarball=$(node -e 'const p = JSON.parse(process.argv[1])[0]; console.log(p.filename)' "$meta")
  integrity=$(node -e 'const p = JSON.parse(process.argv[1])[0]; console.log(p.integrity)' "$meta")
  mkdir -p "$work/$package"
  tar -xzf "$work/$tarball" -C "$work/$package"
  rm -rf "${vendor:?}/$package"
  mkdir -p "$vendor/$package"
  local file
  for file in "$@"; do
    cp "$work/$package/package/$file" "$vendor/$package/"
  done
  printf '%s %s %s\n' "$package" "$version" "$integrity" >>"$work/VERSIONS"
}

vendor graphiql "$GRAPHIQL" graphiql.min.js graphiql.min.css LICENSE
vendor react "$REACT" umd/react.production.min.js LICENSE
vendor react-dom "$REACT" umd/react-dom.production.min.js LICENSE
vendor swagger-ui-dist "$SWAGGER_UI" swagger-ui-bundle.js swagger-ui.css \
  LICENSE NOTICE swagger-ui-bundle.js.LICENSE.txt

{
  echo "# package version integrity (written by scripts/refresh-console-assets.sh)"
  cat "$work/VERSIONS"
} >"$vendor/VERSIONS"
(cd "$vendor" && find . -type f ! -name VERSIONS ! -name SHA256SUMS | sort |
  sed 's|^\./||' | xargs sha256sum) >"$vendor/SHA256SUMS"
echo "assets refreshed:"
sed 1d "$vendor/VERSIONS"
