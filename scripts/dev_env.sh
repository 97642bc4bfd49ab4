#!/usr/bin/env bash
# The engine's own virtual environment (.venv in the checkout): light dependencies only.
# Usage: source-free; prints the python path on the last line. Idempotent and quick when done.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
extras="${1:-}"
python="${PYTHON:-python3}"
if [[ ! -x "$repo/.venv/bin/python" ]]; then
    "$python" -m venv "$repo/.venv"
    "$repo/.venv/bin/pip" install --quiet --upgrade pip
fi
stamp="$repo/.venv/.looptool-installed${extras:+-$extras}"
if [[ ! -f "$stamp" || "$repo/pyproject.toml" -nt "$stamp" ]]; then
    "$repo/.venv/bin/pip" install --quiet -e "$repo${extras:+[$extras]}"
    touch "$stamp"
fi
echo "$repo/.venv/bin/python"
