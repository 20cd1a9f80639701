#!/usr/bin/env bash
# Run the benchmarks and print their figures (nothing is asserted). Arguments go to bench/inbound.py.
# Each benchmark ends with its one summary line; one that fails is reported and the others still run.
# PostgreSQL and Redis on 127.0.0.1 are needed; TEXTDESK_BENCH_DATABASE_URL names the database the runs that
# work on an existing one use (created if missing; its content is replaced). BENCH_QUICK=1 shortens the runs
# that have a short form.
set -uo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
if ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then apt-get -o DPkg::Lock::Timeout=600 update -qq && apt-get -o DPkg::Lock::Timeout=600 install -y -qq wrk >/dev/null; else sudo apt-get install -y -qq wrk; fi
fi
source scripts/bench-database.sh  # sets pg, creating the database if missing
failed=()
run() { "$@" || failed+=("$*"); }

run python bench/inbound.py "$@"
run python bench/cpu_per_message.py
run env TEXTDESK_DATABASE_URL="$pg" python bench/outbound.py --summary --messages 4000 --numbers 16 --rate 1000 --workers 1,2 --threads 4
run env TEXTDESK_DATABASE_URL="$pg" python bench/outbound_faults.py ${BENCH_QUICK:+--sends 200}
run env TEXTDESK_DATABASE_URL="$pg" python bench/faults.py ${BENCH_QUICK:+--quick}
# 2,000 streams on one web process; --quick publishes for 5 s (the full run: python bench/live.py)
run python bench/live.py --quick
run python bench/scale.py
run python bench/dashboard.py
run python bench/simulator_sends.py
run python bench/optout_intent.py
if [ "${#failed[@]}" -gt 0 ]; then printf 'FAILED: %s\n' "${failed[@]}"; exit 1; fi
