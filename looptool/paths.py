"""Where the engine finds its shipped data folders and runtime environments.

The repository keeps `agents/`, `prompts/`, `trees/` and `scripts/` at the top level; a wheel
ships them inside the package as `looptool/_data/<name>`. Looking in both places lets an
installed copy and a source checkout (editable install) behave the same.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
DATA_FOLDERS = ("agents", "prompts", "trees", "scripts")


def data_dir(name: str) -> Path:
    """Return the folder `name` (one of DATA_FOLDERS), shipped or from the checkout."""
    if name not in DATA_FOLDERS:
        raise ValueError(f"unknown data folder {name!r}; expected one of {DATA_FOLDERS}")
    shipped = PACKAGE_DIR / "_data" / name
    if shipped.is_dir():
        return shipped
    checkout = PACKAGE_DIR.parent / name
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError(
        f"data folder {name!r} not found: looked in {shipped} and {checkout}; reinstall the package or run from a source checkout"
    )


def looptool_home() -> Path:
    """Per-user cache root for runtime environments, converted models and request caches.

    `LOOPTOOL_HOME` only relocates storage (e.g. onto a bigger disk); it never changes behaviour.
    """
    root = os.environ.get("LOOPTOOL_HOME")
    return Path(root).expanduser() if root else Path.home() / ".cache" / "looptool"


def runtime_env_dir(runtime: str) -> Path:
    """Default virtual-environment folder of a heavy runtime (vllm, verl, trl, bfcl)."""
    return looptool_home() / "envs" / runtime


def runtime_python(runtime: str) -> Path:
    return runtime_env_dir(runtime) / "bin" / "python"
