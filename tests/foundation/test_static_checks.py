"""The lint and type checks are part of the test run and use the project's own configuration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_test_sh_runs_the_static_checks_before_pytest() -> None:
    lines = (ROOT / "scripts" / "test.sh").read_text().splitlines()
    check = next(i for i, line in enumerate(lines) if "check.sh" in line and not line.startswith("#"))
    pytest_line = next(i for i, line in enumerate(lines) if "-m pytest" in line)
    assert check < pytest_line
    script = (ROOT / "scripts" / "check.sh").read_text()
    assert "set -euo pipefail" in script and "ruff check" in script and "mypy" in script


@pytest.mark.parametrize(
    ("source", "rule"),
    [
        ("import os\n", "F401"),  # unused import
        ("x = 1  # noqa: E501\n", "RUF100"),  # a suppression that suppresses nothing
        ("try:\n    pass\nexcept Exception:\n    pass\n", "BLE001"),  # a blind except must say why
    ],
)
def test_ruff_with_the_project_config_rejects(tmp_path: Path, source: str, rule: str) -> None:
    pytest.importorskip("ruff")
    target = tmp_path / "sample.py"
    target.write_text(source)
    done = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--config", str(ROOT / "pyproject.toml"), "--output-format", "concise", str(target)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1 and rule in done.stdout, done.stdout + done.stderr


def test_mypy_is_strict_on_the_contract_packages(tmp_path: Path) -> None:
    """An untyped function in looptool.tools fails the type check; the same one elsewhere would not."""
    pytest.importorskip("mypy")
    package = tmp_path / "looptool" / "tools"
    package.mkdir(parents=True)
    (tmp_path / "looptool" / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "loose.py").write_text("def f(x):\n    return x\n")
    # In a subprocess: mypy raises the interpreter's recursion limit, which would change what
    # other tests in this process see (deeply nested input is refused on RecursionError).
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            str(ROOT / "pyproject.toml"),
            "--no-incremental",
            "--cache-dir",
            str(tmp_path / ".cache"),
            str(package / "loose.py"),
        ],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 1 and "no-untyped-def" in done.stdout, done.stdout + done.stderr
