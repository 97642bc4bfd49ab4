"""An installed copy (a wheel, not the checkout) ships ACEBench's data and finds it."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_wheel_ships_acebench_data_licence_and_prompts_and_finds_them_when_installed(tmp_path: Path) -> None:
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
    base = "looptool/eval/data/acebench/"
    for expected in (
        "LICENSE.md",
        "SOURCE.json",
        "data_en/data_agent_multi_turn.json",
        "data_zh/possible_answer/data_special_incomplete.json",
        "scenarios/en.json",
        "scenarios/zh.json",
    ):
        assert base + expected in names, expected
    assert sum(1 for n in names if n.startswith(base) and n.endswith(".json") and "/data_" in n) == 68
    for prompt in ("acebench_normal.md", "acebench_agent.md", "acebench_user.md"):
        assert f"looptool/_data/prompts/{prompt}" in names
    probe = (
        "from looptool.eval.acebench_data import SHIPPED_DIR, load_items, source_info; "
        "from looptool.eval.acebench_format import item_request; "
        "from looptool.eval.acebench_execution import Executor; "
        "items = load_items(language='zh'); print(SHIPPED_DIR); print(len(items)); print(source_info()['commit']); "
        "request, _ = item_request(items[0], 'acebench', max_tokens=None, temperature=0.0, cache_salt=None); "
        "print(len(request.messages)); "
        "e = Executor({}, ['BaseApi', 'MessageApi'], 'zh', 'multi_step'); print(e.respond('[turn_on_wifi()]').message[0]['message'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(tmp_path / "site"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    shipped, count, commit, messages, wifi = result.stdout.split("\n")[:5]
    assert shipped == str(tmp_path / "site/looptool/eval/data/acebench")
    assert (count, commit, messages, wifi) == ("1017", "56dd66cf6439b0d9655ee1b353e4cd745c6f664e", "2", "wifi已经打开")
