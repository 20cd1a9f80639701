#!/usr/bin/env bash
# Install the test dependencies and run the whole test suite: once on SQLite, once on PostgreSQL.
# PostgreSQL: TEXTDESK_TEST_DATABASE_URL, else postgres://postgres@127.0.0.1:5432/textdesk.
# Locally an unreachable PostgreSQL is skipped with a reason; with CI=true it is a failure.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test || exit 1
VENV=${VENV:-.venv}
export PATH="$PWD/$VENV/bin:$PATH"
export TEXTDESK_ENV=test
export TEXTDESK_SECRET_KEY=${TEXTDESK_SECRET_KEY:-test-secret-key-not-for-production}
export TEXTDESK_ARTIFACTS=${TEXTDESK_ARTIFACTS:-$PWD/artifacts}
mkdir -p "$TEXTDESK_ARTIFACTS"
unset TEXTDESK_REDIS_URL
status=0

run_suite() {  # $1 = label, rest = pytest args
  local label=$1; shift
  local data; data=$(mktemp -d)
  echo "== test suite on $label"
  TEXTDESK_DATA_DIR="$data" python -m pytest -p no:cacheprovider "$@" || status=1
  rm -rf "$data"
}

echo "== lint (ruff check, ruff format --check)"
ruff check src tests bench || status=1
ruff format --check -q src tests bench || status=1
echo "== types (mypy, settings in pyproject.toml)"
# The Django plugin imports the settings: give them a throwaway data folder and no database or Redis.
mypy_data=$(mktemp -d)
TEXTDESK_DATA_DIR="$mypy_data" TEXTDESK_DATABASE_URL="" mypy || status=1
rm -rf "$mypy_data"

# The SQLite run measures coverage; the total is printed after it.
TEXTDESK_DATABASE_URL="" run_suite SQLite --cov=textdesk --cov-report= "$@"
echo "== coverage of the SQLite run: $(coverage report --format=total 2>/dev/null || echo '?')% of lines and branches"

pg_url=${TEXTDESK_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/textdesk}
if python - "$pg_url" <<'PY'
import sys, psycopg
from textdesk.config import parse_database_url
c = parse_database_url(sys.argv[1])
try:
    psycopg.connect(host=c.host, port=c.port or 5432, user=c.user, password=c.password, dbname="postgres", connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL unreachable at {c.host}:{c.port or 5432}: {exc}".strip())
    sys.exit(1)
PY
then
  TEXTDESK_DATABASE_URL="$pg_url" TEXTDESK_TEST_REDIS_URL=${TEXTDESK_TEST_REDIS_URL:-redis://127.0.0.1:6379/15} run_suite PostgreSQL "$@"
elif [ "${CI:-}" = "true" ]; then
  echo "FAILED: PostgreSQL is required when CI=true"
  status=1
else
  echo "SKIPPED: the PostgreSQL run (no PostgreSQL answers; set TEXTDESK_TEST_DATABASE_URL to use one)"
fi
exit $status
