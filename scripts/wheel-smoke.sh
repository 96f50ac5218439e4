#!/usr/bin/env bash
# CI: build the wheel, install it into a clean venv and run the installed service away from
# the checkout: `civicgrid --help`, `civicgrid classify` on a sample, one report through a
# worker (scripts/wheel_smoke.py). Nothing of the checkout is on the path.
set -euo pipefail
cd "$(dirname "$0")/.."
checkout=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# as root the embedded PostgreSQL runs as an unprivileged user, who must reach the venv
chmod 755 "$work"
.venv/bin/python -m pip wheel --quiet --no-deps . -w "$work/dist" 2>"$work/pip.log" \
    || { cat "$work/pip.log"; exit 1; }
"${PYTHON:-python3.11}" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet "$work"/dist/civicgrid-*.whl 2>"$work/pip.log" \
    || { cat "$work/pip.log"; exit 1; }
cd "$work"
"$work/venv/bin/civicgrid" --help >/dev/null
echo '{"description": "小区门口的路灯坏了好几天，晚上黑漆漆的"}' | "$work/venv/bin/civicgrid" classify - \
    | tee "$work/classified.txt"
grep -q '"category":"01037"' "$work/classified.txt"
"$work/venv/bin/python" "$checkout/scripts/wheel_smoke.py"
