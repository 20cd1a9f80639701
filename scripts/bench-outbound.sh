#!/usr/bin/env bash
# Outbound sending benchmark (figures printed, never asserted). Extra arguments go to bench/outbound.py,
# e.g. scripts/bench-outbound.sh --messages 1000 --workers 1,2,4,8 --rate 50. Without TEXTDESK_DATABASE_URL it
# works on the benchmark database of `make bench` (PostgreSQL; see scripts/bench-database.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
export PATH="$PWD/$VENV/bin:$PATH"
if [ -z "${TEXTDESK_DATABASE_URL:-}" ]; then
  source scripts/bench-database.sh  # sets pg, creating the database if missing
  export TEXTDESK_DATABASE_URL="$pg"
fi
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" exec python bench/outbound.py "$@"
