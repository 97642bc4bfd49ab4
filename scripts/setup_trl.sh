#!/usr/bin/env bash
# Build the TRL runtime environment (single-node GRPO that really trains on CPU) from PyPI.
#
# Why a separate venv: TRL resolves a transformers newer than verl 0.9.1 allows (<5.11), so the two
# trainers never share an interpreter; the engine calls this one as a subprocess.
# Why torch first: an unpinned torch would make pip fetch a multi-GB CUDA build; torch==2.13.0 is
# the local CPU wheel. `gguf` lets scripts/convert_smollm2.py run here too (transformers' GGUF
# loader); jsonschema is what looptool.tools (the reward) needs inside this interpreter.
#
# Usage: scripts/setup_trl.sh [--python PYTHON] [ENV_DIR]
#   ENV_DIR defaults to ${LOOPTOOL_HOME:-~/.cache/looptool}/envs/trl (looptool.paths.runtime_env_dir).
# Idempotent: a marker file records the installed pins; a re-run with the same pins is a no-op.
set -euo pipefail

RUNTIME=trl
MAIN_PINS=("trl==1.16.0" "jsonschema>=4.21" "pyarrow>=19" "gguf>=0.10" "psutil>=5.9")
LIST_PATTERN="torch|trl|transformers|tokenizers|accelerate|datasets|jsonschema|pyarrow|gguf|psutil"
GPU_PREFIXES='("nvidia-", "vllm", "deepspeed", "flash-attn", "flash_attn")'
USAGE_LINES=2,13
source "$(dirname "${BASH_SOURCE[0]}")/cpu_runtime.sh"
setup_cpu_runtime "$@"
