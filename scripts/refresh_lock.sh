#!/usr/bin/env bash
# Re-resolve constraints.txt: a fresh virtual environment, the newest versions pyproject.toml allows for
# ramparts and its extras, frozen. Run the tests afterwards (bash .ci/run) and commit the diff on purpose.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
python3 -m venv "$tmp/venv"
"$tmp/venv/bin/pip" install --quiet --upgrade pip
"$tmp/venv/bin/pip" install --quiet -e '.[test,service,cluster]'
{
  sed -n '/^#/p' constraints.txt
  "$tmp/venv/bin/pip" freeze --exclude-editable | grep -v '^ramparts\b'
} > "$tmp/constraints.txt"
mv "$tmp/constraints.txt" constraints.txt
git --no-pager diff --stat constraints.txt || true
