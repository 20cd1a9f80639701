#!/usr/bin/env bash
# Install TextDesk into a local virtual environment (.venv) and build the translation catalogs.
#   --test   also install the test tools and the system packages the browser tests need
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}
with_test=0
[ "${1:-}" = "--test" ] && with_test=1

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

need_apt=()
command -v msgfmt >/dev/null || need_apt+=(gettext)
command -v npm >/dev/null || need_apt+=(npm)
if [ "$with_test" = 1 ] && [ ! -x /usr/bin/chromium ]; then need_apt+=(chromium); fi
if [ "${#need_apt[@]}" -gt 0 ]; then
  echo "== installing system packages: ${need_apt[*]}"
  as_root apt-get -o DPkg::Lock::Timeout=600 update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
extras=""
[ "$with_test" = 1 ] && extras="[test,bench]"
echo "== installing python packages"
"$VENV/bin/pip" install -q --disable-pip-version-check -e ".${extras}"
echo "== installing the dashboard's charting library (Chart.js, from npm; not kept in git)"
vendor=src/textdesk/compliance/static/compliance/vendor
fetch_chartjs() {
  local tmp; tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent chart.js@4 >/dev/null && tar xzf chart.js-*.tgz) || { rm -rf "$tmp"; return 1; }
  mkdir -p "$vendor"
  cp "$tmp/package/dist/chart.umd.js" "$vendor/chart.umd.js"
  cp "$tmp/package/LICENSE.md" "$vendor/chart.js-LICENSE.md"
  rm -rf "$tmp"
}
# Without it the dashboard still shows its figures as tables; a failed download must not stop the install.
[ -f "$vendor/chart.umd.js" ] || fetch_chartjs || echo "warning: Chart.js could not be fetched from npm; the dashboard shows tables only"
echo "== compiling translations"
(cd src/textdesk && "../../$VENV/bin/django-admin" compilemessages -v 0)
