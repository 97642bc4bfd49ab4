#!/usr/bin/env bash
# The whole test suite, integration tests included (what CI runs): builds the engine's venv and
# every runtime the integration tests use, then runs pytest with --require-runtimes, so a missing
# runtime fails the run instead of silently skipping its tests.
# Lint and type checks (scripts/check.sh) run first and fail the run on a finding.
# Extra arguments go to pytest (e.g. -m "not slow" for the quick tests only).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="$("$here/dev_env.sh" test | tail -n 1)"
"$here/check.sh" "$python"  # lint and type checks first: a finding fails the run before any runtime is built
"$here/setup_runtimes.sh" vllm trl verl bfcl
cd "$here/.."
exec "$python" -m pytest --require-runtimes -q "$@"
