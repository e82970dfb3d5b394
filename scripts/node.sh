#!/usr/bin/env bash
# `deno task node`: starts the node (main.ts) with exactly the permissions its configuration names.
#
# scripts/node_grants.ts reads the configuration as the node will (these arguments, the DBC_*
# environment, the --config file, relative paths against the current directory) and prints the
# permission flags, one a line: the data, VM and image directories and the engine socket wherever
# they are, the project's code, /etc/dbc, the service programs. Then this script becomes the node
# (exec): signals and the pid reach the node itself, and nothing is left behind. Never -A; each
# worker narrows the process's grants to its own slice (mod/permissions.ts).
#
#   bash scripts/node.sh [node flags...]      (from any directory; deno task node runs it)
set -euo pipefail

root="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
deno="$root/node_modules/deno/deno"
if [[ ! -x "$deno" ]]; then
  echo "node.sh: $deno is missing; run npm ci in $root first" >&2
  exit 2
fi

# The dashboard's browser bundle (scripts/ui_build.ts writes http/ui/dist/, which the HTTP worker
# imports at start and serves from memory), built here by a process of its own that may read the
# project and run esbuild; the node itself gets no such grant. A failed build leaves the node
# running, its /ui saying what to do.
"$deno" run --quiet --no-prompt --allow-read="$root" --allow-write="$root/http/ui/dist" \
  --allow-env --allow-run "$root/scripts/ui_build.ts" >/dev/null ||
  echo "node.sh: the dashboard was not built (above); the node starts without it" >&2

# A refusal (a path Deno's flags cannot carry) is reported by node_grants.ts, which exits 2.
grants="$("$deno" run --quiet --no-prompt --allow-read --allow-env "$root/scripts/node_grants.ts" "$@")" ||
  exit $?
mapfile -t flags <<<"$grants"
if [[ "${#flags[@]}" -eq 0 || -z "${flags[0]}" ]]; then
  echo "node.sh: node_grants.ts printed no permission flags" >&2
  exit 1
fi

exec "$deno" run --unstable-worker-options "${flags[@]}" "$root/main.ts" "$@"
