#!/usr/bin/env bash
# Static checks that run before the tests (scripts/test.sh, hence CI): ruff lint and mypy, both
# configured in pyproject.toml. Fails on the first finding. Usage: scripts/check.sh [python]
# (python defaults to the engine's dev venv, built with the test extras that carry ruff and mypy).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="${1:-$("$here/dev_env.sh" test | tail -n 1)}"
cd "$here/.."
echo "ruff check"
"$python" -m ruff check looptool tests scripts
echo "ruff format --check"
"$python" -m ruff format --check looptool tests scripts
echo "mypy"
"$python" -m mypy
