#!/usr/bin/env bash
# What the DBC chain tests (tests/chain/) need, idempotently: Node.js 20 or later to run
# @acala-network/chopsticks (a dev package that `npm ci` installs), which runs DBC's own runtime
# from tests/fixtures/chain/dbc-spec-v4.json.gz. Installs Debian's nodejs when there is no node;
# says what to do when the one there is too old.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
min_major=20
if ! command -v node >/dev/null 2>&1; then
  echo "[chain_setup] installing nodejs (Debian)" >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs >/dev/null
fi
major="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$major" -lt "$min_major" ]; then
  echo "[chain_setup] chopsticks needs Node.js >= $min_major; $(command -v node) is $(node --version)" >&2
  exit 1
fi
if [ ! -f "$root/node_modules/@acala-network/chopsticks/chopsticks.cjs" ]; then
  echo "[chain_setup] @acala-network/chopsticks is missing: run npm ci in $root" >&2
  exit 1
fi
echo "[chain_setup] node $(node --version) and chopsticks are ready" >&2
