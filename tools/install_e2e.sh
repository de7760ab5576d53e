#!/usr/bin/env bash
# Installs what the end-to-end tests (tests/e2e, `pytest -m e2e`) need beyond the Python venv, idempotently:
#  - Chromium from the distribution (Debian package `chromium`; Playwright's own browser download is not used),
#  - the Microsoft 365 Agents Playground from package.json/package-lock.json (`npm ci`), when node_modules is
#    missing or older than the lock file (stamp: node_modules/.installed, the same one the Makefile uses).
# Re-running it when everything is in place does nothing and takes well under a second.
set -euo pipefail
cd "$(dirname "$0")/.."

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    echo "install_e2e: need root (or sudo) to run: $*" >&2; return 1; fi
}

if ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1; then
  echo "install_e2e: installing chromium (apt)"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install_e2e: node and npm are needed (Node 20); install them first" >&2
  exit 1
fi

stamp=node_modules/.installed
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ] || [ package.json -nt "$stamp" ] \
   || [ ! -f node_modules/@microsoft/m365agentsplayground/cli.js ]; then
  echo "install_e2e: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
  touch "$stamp"
fi

if [ -x .venv/bin/python ] && ! .venv/bin/python -c "import playwright" >/dev/null 2>&1; then
  echo "install_e2e: the venv has no playwright: run 'make' (requirements-dev.txt pins it)" >&2
  exit 1
fi
echo "install_e2e: ready ($(command -v chromium || command -v chromium-browser); playground $(node -p \
  "require('./node_modules/@microsoft/m365agentsplayground/package.json').version"))"
