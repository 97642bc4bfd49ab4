"""Issue 12.5: an answer that does not parse or validate is asked again before its unit fails.

With 3% garbage answers, 43.5% of dialogs used to be thrown away on the first bad answer; a judge
answer that could not be used counted as a fail verdict.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from looptool.config import load_config
from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.sim import SimServer, SimSettings
from looptool.sim.settings import ModelProfile
from looptool.store import read_json, read_jsonl
from looptool.synth.seed import build_seed
from looptool.session import EngineSession

from support import url_config

pytestmark = pytest.mark.anyio

GARBAGE = ModelProfile(malformed_rate=0.05)


def lost(run: Path) -> list[str]:
    """Dialogs thrown away because an answer was unusable (not because the data was wrong)."""
    out = []
    for dialog in read_jsonl(run / "seed/dialogs/dialogs.jsonl"):
        malformed = any(i["reason"] == "malformed_call" for s in dialog["steps"] for i in s["rule_issues"])
        if dialog["status"].startswith("output_") or malformed:
            out.append(dialog["id"])
    return out


async def seed_with_garbage(tmp_path: Path, client: str = "") -> Path:
    profiles = {f"sim-{role}": GARBAGE for role in ("planner", "user", "assistant", "tool", "generator")}
    async with SimServer(SimSettings(seed=5, models=profiles)) as sim:
        await build_seed(load_config(url_config(tmp_path, sim.base_url, apis=16, dialogs=30, client=client)), "dialogs")
    return tmp_path / "run"


async def test_garbage_answers_are_asked_again_instead_of_losing_dialogs(tmp_path: Path) -> None:
    run = await seed_with_garbage(tmp_path)
    assert lost(run) == []
    stats = read_json(run / "stats/seed__dialogs.json")
    assert stats["total"]["invalid_answer_retries"] > 0, "garbage was produced and asked again"
    assert sum(r["invalid_answer_retries"] for r in stats["roles"].values()) == stats["total"]["invalid_answer_retries"]


async def test_without_re_asking_the_same_garbage_loses_dialogs(tmp_path: Path) -> None:
    """The control: the re-ask is what saves them (if it were loosened, dialogs would be lost)."""
    run = await seed_with_garbage(tmp_path, client="invalid_answer_retries = 0")
    assert len(lost(run)) >= 3
    assert read_json(run / "stats/seed__dialogs.json")["total"]["invalid_answer_retries"] == 0


async def test_re_asks_are_bounded_and_each_has_its_own_seed(tmp_path: Path) -> None:
    async with SimServer(SimSettings(models={"sim-judge": ModelProfile(malformed_rate=1.0)})) as sim:
        loaded = load_config(url_config(tmp_path, sim.base_url, client="invalid_answer_retries = 2"))
        async with EngineSession(loaded, roles=["judge"]) as session:
            caller = session.caller
            assert isinstance(caller, RoleCaller)
            answer = await caller.call("judge", "verify_step", {"input_json": "{}", "current_time": "2024-05-01"})
            with pytest.raises(OutputInvalid):
                answer.value
            assert answer.extras["invalid_answer_retries"] == 2
            assert session.client.stats.role("judge").invalid_answer_retries == 2
            assert session.client.stats.role("judge").requests == 3
            first = caller.build_request("judge", "verify_step", {"input_json": "{}", "current_time": "2024-05-01"})
            assert first.seed is None and first.temperature == 0.0


async def test_an_unusable_judge_answer_is_not_a_fail_verdict(tmp_path: Path) -> None:
    """Same dialogs, judged by a clean judge and by one answering 30% garbage: same verdicts."""
    verdicts = {}
    for name, judge in (("clean", ModelProfile()), ("garbage", ModelProfile(malformed_rate=0.3))):
        folder = tmp_path / name
        folder.mkdir()
        async with SimServer(SimSettings(seed=5, models={"sim-judge": judge})) as sim:
            await build_seed(load_config(url_config(folder, sim.base_url, apis=16, dialogs=20)), "verify")
        verdicts[name] = {v["id"]: (v["passed"], v["reasons"]) for v in read_jsonl(folder / "run/seed/verify/verdicts.jsonl")}
        if name == "garbage":
            assert read_json(folder / "run/stats/seed__verify.json")["roles"]["judge"]["invalid_answer_retries"] > 0
    assert verdicts["garbage"].keys() == verdicts["clean"].keys()
    differing = {i: (verdicts["clean"][i], g) for i, g in verdicts["garbage"].items() if g != verdicts["clean"][i]}
    # A step whose every re-ask was garbage too has no verdict: recorded as unusable, never as a fail.
    assert all(g == (False, ["judge:unusable"]) for _, g in differing.values()), differing
    assert len(differing) <= 2, f"re-asking should recover almost every garbage answer: {differing}"
    assert any(passed for passed, _ in verdicts["clean"].values())
