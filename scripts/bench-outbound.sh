#!/usr/bin/env bash
# Outbound sending benchmark (figures printed, never asserted). Extra arguments go to bench/outbound.py,
# e.g. scripts/bench-outbound.sh --messages 1000 --workers 1,2,4,8 --rate 50
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" exec "$VENV/bin/python" bench/outbound.py "$@"
