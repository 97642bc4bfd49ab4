"""An installed copy (a wheel, not the checkout) finds its data folders and its presets."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_ships_data_folders_and_finds_them_when_installed(tmp_path: Path) -> None:
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path / "dist"), str(REPO)],
        capture_output=True,
        text=True,
    )
    assert build.returncode == 0, build.stderr[-2000:]
    wheel = next((tmp_path / "dist").glob("looptool-*.whl"))
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
        archive.extractall(tmp_path / "site")
    for expected in (
        "looptool/_data/agents/judge.toml",
        "looptool/_data/prompts/policy.md",
        "looptool/_data/trees/travel.json",
        "looptool/_data/scripts/setup_vllm.sh",
        "looptool/presets/quickstart.toml",
    ):
        assert expected in names, expected
    probe = (
        "from looptool.paths import data_dir; from looptool.presets import preset_path; "
        "from looptool.config import load_config; "
        "print(data_dir('agents')); print(preset_path('dryrun')); "
        "print(len(load_config(preset_path('dryrun')).cards))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    agents, preset, cards = result.stdout.split()
    assert agents == str(tmp_path / "site/looptool/_data/agents")
    assert preset.startswith(str(tmp_path / "site")) and cards == "7"
