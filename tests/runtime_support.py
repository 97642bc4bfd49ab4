"""Helpers shared by tests that need a heavy runtime environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from looptool.paths import runtime_python


def runtime_or_skip(config: pytest.Config, name: str) -> Path:
    """The runtime's python; skip (or fail under --require-runtimes) when it is missing.

    Usable from fixtures of any scope (module-scoped server fixtures call it directly)."""
    python = runtime_python(name)
    if python.exists():
        return python
    message = f"runtime environment {name!r} missing at {python}; build it with scripts/setup_{name}.sh"
    if config.getoption("--require-runtimes"):
        pytest.fail(message)
    pytest.skip(message)
