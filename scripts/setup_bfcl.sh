#!/usr/bin/env bash
# Build the torch-free bfcl-eval runtime environment.
#
# Why torch-free: bfcl-eval hard-depends on sentence-transformers and faiss-cpu, which pull torch
# (hundreds of MB, or a multi-GB CUDA build if pip resolves it freely). Only BFCL's
# memory_vector category needs them; the AST checker, the data files and `bfcl evaluate` for every
# offline category work without them. So: install the wheel with --no-deps, then its own
# Requires-Dist minus those two, plus soundfile (imported by qwen-agent but not declared) and
# jsonschema (looptool.tools runs inside this env via PYTHONPATH).
#
# Usage: scripts/setup_bfcl.sh [ENV_DIR]
#   ENV_DIR defaults to looptool.paths.runtime_env_dir("bfcl") (~/.cache/looptool/envs/bfcl).
#   PYTHON selects the interpreter that creates the venv (default: python3, must be >= 3.10).
# Idempotent: a marker file records the installed bfcl-eval version; a matching marker skips work.
set -euo pipefail

BFCL_VERSION="2026.3.23"
SKIPPED_DEPS="sentence-transformers faiss-cpu"
EXTRA_DEPS="soundfile jsonschema"
PYTHON="${PYTHON:-python3}"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ $# -ge 1 ]]; then
  env_dir="$1"
else
  env_dir="$(PYTHONPATH="$repo_root" "$PYTHON" -c 'from looptool.paths import runtime_env_dir; print(runtime_env_dir("bfcl"))')"
fi
marker="$env_dir/.looptool-bfcl-eval-version"

if [[ -f "$marker" && "$(cat "$marker")" == "$BFCL_VERSION" && -x "$env_dir/bin/python" ]]; then
  echo "bfcl env at $env_dir already has bfcl-eval==$BFCL_VERSION (marker $marker); nothing to do"
  exit 0
fi

# pip, quiet, minus the per-package notices about find-links folders this machine lacks.
pip_install() {
  local status=0
  "$py" -m pip install --quiet "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; } \
    || status=$?
  return "$status"
}

start=$SECONDS
echo "building bfcl env at $env_dir (bfcl-eval==$BFCL_VERSION, without: $SKIPPED_DEPS)"
"$PYTHON" -m venv "$env_dir"
py="$env_dir/bin/python"
pip_install --upgrade pip
pip_install --no-deps "bfcl-eval==$BFCL_VERSION"

# The wheel's own Requires-Dist, minus extras and the torch-pulling packages.
mapfile -t deps < <("$py" - "$SKIPPED_DEPS" <<'EOF'
import importlib.metadata as md
import re
import sys

skipped = set(sys.argv[1].split())
for req in md.requires("bfcl-eval") or []:
    if "extra ==" in req:
        continue
    name = re.match(r"[A-Za-z0-9._-]+", req).group(0).lower().replace("_", "-")
    if name not in skipped:
        print(req)
EOF
)
echo "installing ${#deps[@]} declared dependencies + $EXTRA_DEPS:"
printf '  %s\n' "${deps[@]}"
echo "(pip's note that bfcl-eval requires $SKIPPED_DEPS is expected: they are left out on purpose)"
# shellcheck disable=SC2086
pip_install "${deps[@]}" $EXTRA_DEPS

if "$py" -c 'import importlib.util, sys; sys.exit(importlib.util.find_spec("torch") is None)'; then
  echo "error: torch ended up in $env_dir; a dependency pulled it in, the env is not torch-free" >&2
  exit 1
fi
# The import that fails when a dependency is missing (see notes/bench.md §1.1).
"$py" -c 'import bfcl_eval.eval_checker.ast_eval.ast_checker, jsonschema'

echo "$BFCL_VERSION" > "$marker"
echo "installed packages:"
"$py" -m pip list --format=freeze | sed 's/^/  /'
echo "bfcl env ready: $py ($("$py" -m pip list --format=freeze | wc -l) packages, $(du -sh "$env_dir" | cut -f1), $((SECONDS - start)) s)"
