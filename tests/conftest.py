"""Shared test fixtures.

Heavy runtimes (vLLM CPU, verl, TRL, bfcl-eval) live in their own virtual environments built by
`scripts/setup_*.sh`. Tests that need one ask for it through `require_runtime`: locally a missing
environment skips the test; with `--require-runtimes` (what CI passes) it fails, so CI can never
go green by silently skipping the integration tests.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # test helper modules (runtime_support)
from runtime_support import runtime_or_skip


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
    return lambda name: runtime_or_skip(request.config, name)
