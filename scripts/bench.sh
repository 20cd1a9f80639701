#!/usr/bin/env bash
# Run the benchmarks and print their figures (nothing is asserted). Arguments go to bench/inbound.py.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk; fi
fi
python bench/inbound.py "$@"
python bench/cpu_per_message.py
if [ -f bench/outbound.py ]; then python bench/outbound.py --threads 1,4; fi
# 2,000 streams on one web process; --quick publishes for 5 s (the full run: python bench/live.py)
python bench/live.py --quick
# kill -9 and database/Redis cuts while inbound and outbound traffic flows (PostgreSQL only)
case "${TEXTDESK_DATABASE_URL:-}" in
  postgres*) python bench/faults.py ${BENCH_QUICK:+--quick} ;;
  *) echo "faults: skipped (needs TEXTDESK_DATABASE_URL=postgres://...)" ;;
esac
