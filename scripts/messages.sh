#!/usr/bin/env bash
# Regenerate the translation catalogs (.po) from the source: the project's, then the sales accelerator's own.
# Translate every new or fuzzy entry afterwards; tests/unit/test_catalogs.py fails until none is left.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
ADMIN="$PWD/$VENV/bin/django-admin"
data=$(mktemp -d); trap 'rm -rf "$data"' EXIT
export PYTHONPATH="$PWD/src" DJANGO_SETTINGS_MODULE=textdesk.settings TEXTDESK_DATA_DIR="$data"
languages=(-l pt_BR -l es -l it)
# No JavaScript calls gettext (scripts read their words from data-* attributes), so only the "django" domain.
(cd src/textdesk && "$ADMIN" makemessages "${languages[@]}" --no-wrap --ignore "migrations/*" --ignore "sequences/*")
(cd src/textdesk/sequences && "$ADMIN" makemessages "${languages[@]}" --no-wrap --ignore "migrations/*")
