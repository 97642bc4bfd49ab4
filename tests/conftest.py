"""Shared test fixtures.

Heavy runtimes (vLLM CPU, verl, TRL, bfcl-eval) live in their own virtual environments built by
`scripts/setup_*.sh`. Tests that need one ask for it through `require_runtime`: locally a missing
environment skips the test; with `--require-runtimes` (what CI passes) it fails, so CI can never
go green by silently skipping the integration tests.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from looptool.paths import runtime_python


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--require-runtimes",
        action="store_true",
        default=False,
        help="fail (instead of skip) tests whose runtime environment is missing",
    )


@pytest.fixture
def require_runtime(request: pytest.FixtureRequest):
    """Return a function mapping a runtime name to its python, skipping or failing if absent."""

    def _require(name: str) -> Path:
        python = runtime_python(name)
        if python.exists():
            return python
        message = (
            f"runtime environment {name!r} missing at {python}; "
            f"build it with scripts/setup_{name}.sh"
        )
        if request.config.getoption("--require-runtimes"):
            pytest.fail(message)
        pytest.skip(message)

    return _require
