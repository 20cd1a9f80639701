# Sourced by the benchmark scripts: sets pg to the benchmark database (TEXTDESK_BENCH_DATABASE_URL, by default
# textdesk_bench on 127.0.0.1) and creates it when missing. Needs the virtualenv's python on PATH.
pg=${TEXTDESK_BENCH_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/textdesk_bench}
python - "$pg" <<'PY'
import sys, psycopg
from textdesk.config import parse_database_url
c = parse_database_url(sys.argv[1])
with psycopg.connect(host=c.host, port=c.port or 5432, user=c.user, password=c.password, dbname="postgres", autocommit=True) as conn:
    if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [c.name]).fetchone():
        conn.execute(f'CREATE DATABASE "{c.name}"')
PY
