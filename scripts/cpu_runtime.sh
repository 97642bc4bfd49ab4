# Shared body of the CPU runtime setup scripts (sourced by setup_trl.sh and setup_verl.sh).
#
# Caller sets: RUNTIME (name), MAIN_PINS (array), LIST_PATTERN (packages to print),
# GPU_PREFIXES (Python tuple literal of forbidden distribution prefixes), USAGE_LINES (help range),
# then calls setup_cpu_runtime "$@".
# torch==2.13.0 goes in first and alone: an unpinned torch would make pip fetch a multi-GB CUDA
# build; 2.13.0 is the local CPU wheel. A marker records the installed pins: re-running with the
# same pins is a no-op; after installing, the environment is checked to hold no GPU stack.

setup_cpu_runtime() {
  local python=python3.11 env_dir=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      --python) python="$2"; shift 2 ;;
      -h|--help) sed -n "${USAGE_LINES}p" "$0"; exit 0 ;;
      *) env_dir="$1"; shift ;;
    esac
  done
  command -v "$python" >/dev/null 2>&1 || python=python3
  env_dir="${env_dir:-${LOOPTOOL_HOME:-$HOME/.cache/looptool}/envs/$RUNTIME}"
  local torch_pin="torch==2.13.0"
  local marker="$env_dir/.looptool-setup"
  local want="$torch_pin ${MAIN_PINS[*]}"
  if [[ -f "$marker" && "$(cat "$marker")" == "$want" && -x "$env_dir/bin/python" ]]; then
    echo "$RUNTIME runtime already set up at $env_dir ($want)"
    return 0
  fi
  local start py
  start=$(date +%s)
  "$python" -m venv "$env_dir"
  py="$env_dir/bin/python"
  # The machine's pip config lists optional local indexes; hide pip's noise about absent ones.
  pip_install() { "$py" -m pip install -q "$@" 2>&1 | { grep -v "^WARNING: Location 'file://" || true; }; }
  pip_install -U pip
  echo "[setup_$RUNTIME] installing $torch_pin (CPU wheel) first"
  pip_install "$torch_pin"
  echo "[setup_$RUNTIME] installing ${MAIN_PINS[*]}"
  pip_install "${MAIN_PINS[@]}" "$torch_pin"
  "$py" - "$RUNTIME" "$GPU_PREFIXES" <<'PY'
import ast, importlib.metadata as md, sys
import torch
runtime, prefixes = sys.argv[1], ast.literal_eval(sys.argv[2])
assert torch.__version__.endswith("+cpu"), f"expected a CPU torch, got {torch.__version__}"
gpu = [d.metadata["Name"] for d in md.distributions() if d.metadata["Name"].lower().startswith(prefixes)]
if gpu:
    sys.exit(f"GPU packages were pulled into the {runtime} env: {gpu}")
PY
  echo "$want" > "$marker"
  echo "[setup_$RUNTIME] done in $(( $(date +%s) - start )) s; environment: $env_dir ($(du -sh "$env_dir" | cut -f1))"
  "$py" -m pip list 2>/dev/null | grep -iE "^($LIST_PATTERN) " || true
}
