"""Judge answers that contradict themselves (looptool.roles.answer_checks): refused like a schema
violation, asked again through the role caller's re-ask path, then unusable, never a pass."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from looptool.config import load_config
from looptool.roles.answer_checks import analysis_claims, label_verdict_contradiction, step_verdict_contradiction
from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.session import EngineSession
from looptool.sim import SimServer, SimSettings
from looptool.sim.settings import ModelProfile
from looptool.store import read_json, read_jsonl
from looptool.synth.seed import build_seed

sys.path.insert(0, str(Path(__file__).parents[1] / "reliability"))
from support import url_config

STEP_CASES = [
    # (verdict, reason, contradicts)
    ("pass", "fail", True),  # the quickstart judge, 16 of 16
    ("pass", "Fail.", True),
    ("pass", "incorrect", True),
    ("pass", "The answer is wrong.", True),
    ("pass", "The city is not provided by the user.", True),
    ("pass", "The assistant should have asked for the date.", True),
    ("pass", "The call does not match the request.", True),
    ("fail", "pass", True),
    ("fail", "The step is correct.", True),
    ("fail", "Every value comes from the conversation and the call matches the request.", True),
    ("pass", "The step does what the request needs and every value comes from the conversation.", False),
    ("pass", "No required argument is missing and nothing is invented.", False),
    ("pass", "Correct.", False),
    ("pass", "", False),
    ("fail", "No call is due here: the assistant should reply in text.", False),
    ("fail", "The function is correct but the date is wrong.", False),
    ("fail", 'Expected [{"name": "get_weather"}].', False),
    ("fail", "The city is not provided.", False),
]


@pytest.mark.parametrize("verdict,reason,contradicts", STEP_CASES)
def test_a_step_verdict_whose_reason_argues_the_other_way_is_refused(verdict, reason, contradicts) -> None:
    assert (step_verdict_contradiction({"verdict": verdict, "reason": reason}) is not None) == contradicts


LABEL_CASES = [
    ("A_CORRECT_B_WRONG", "Answer A is wrong here: the request needs get_weather.", True),
    ("A_CORRECT_B_WRONG", "Answer A is correct and answer B is wrong.", False),
    ("B_CORRECT_A_WRONG", "A is not correct because the date is missing; B correctly uses 2024-03-18.", False),
    ("B_CORRECT_A_WRONG", "Answer B is wrong: it invents the city.", True),
    ("BOTH_CORRECT", "Answer B is wrong here.", True),
    ("BOTH_WRONG", "Both answers are correct.", True),
    ("BOTH_WRONG", "Neither answer is correct.", False),
    ("BOTH_CORRECT", "Neither answer is wrong; they differ only in the order of the calls.", False),
    ("B_CORRECT_A_WRONG", "A correct approach calls get_weather. Answer A misses the date.", False),  # article, not a name
    ("A_CORRECT_B_WRONG", "The sunrise in New York is at 6:58. The sunrise in New York is at 6:58.", False),  # no claim at all
]


@pytest.mark.parametrize("verdict,analysis,contradicts", LABEL_CASES)
def test_a_label_verdict_whose_analysis_says_the_opposite_is_refused(verdict, analysis, contradicts) -> None:
    assert (label_verdict_contradiction({"verdict": verdict, "analysis": analysis}) is not None) == contradicts


def test_claims_are_read_per_answer_with_negations() -> None:
    assert analysis_claims("Answer A is not correct, answer B is right.") == {"A": {False}, "B": {True}}
    assert analysis_claims("A is right but A is also wrong.") == {"A": {True, False}, "B": set()}


def test_the_caller_refuses_a_contradicting_answer_like_a_schema_violation(tmp_path: Path) -> None:
    loaded = load_config(url_config(tmp_path, "http://127.0.0.1:9/v1"))
    card = loaded.cards["judge"].tasks["verify_step"]
    with pytest.raises(OutputInvalid) as error:
        RoleCaller.parse(card, '{"verdict": "pass", "reason": "fail"}', [])
    assert error.value.reason == "self_contradiction"
    assert RoleCaller.parse(card, '{"verdict": "fail", "reason": "fail"}', []) == {"verdict": "fail", "reason": "fail"}


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_a_judge_that_always_contradicts_itself_is_asked_again_then_unusable(tmp_path: Path) -> None:
    """Through the real caller: bounded re-asks, counted, and the answer is never a pass."""
    async with SimServer(SimSettings(models={"sim-judge": ModelProfile(contradiction_rate=1.0)})) as sim:
        loaded = load_config(url_config(tmp_path, sim.base_url, client="invalid_answer_retries = 2"))
        async with EngineSession(loaded, roles=["judge"]) as session:
            answer = await session.caller.call("judge", "verify_step", {"input_json": "{}", "current_time": "2024-05-01"})
            with pytest.raises(OutputInvalid) as error:
                answer.value
            assert error.value.reason == "self_contradiction"
            assert answer.extras["invalid_answer_retries"] == 2
            assert session.client.stats.role("judge").requests == 3


@pytest.mark.anyio
async def test_seed_verification_never_passes_a_rubber_stamping_judge(tmp_path: Path) -> None:
    """Every judge answer {"verdict": "pass", "reason": "fail"}: no dialog passes (the old code
    passed every one that the rules let through); each is judge:unusable."""
    async with SimServer(SimSettings(seed=5, models={"sim-judge": ModelProfile(contradiction_rate=1.0)})) as sim:
        await build_seed(load_config(url_config(tmp_path, sim.base_url, apis=16, dialogs=12)), "verify")
    verdicts = read_jsonl(tmp_path / "run/seed/verify/verdicts.jsonl")
    judged = [v for v in verdicts if v["steps"]]
    assert judged and not any(v["passed"] for v in verdicts)
    assert all(v["reasons"] == ["judge:unusable"] for v in judged)
    assert read_json(tmp_path / "run/stats/seed__verify.json")["roles"]["judge"]["invalid_answer_retries"] >= 2 * len(judged)


@pytest.mark.anyio
async def test_an_occasionally_contradicting_judge_gives_the_clean_judges_verdicts(tmp_path: Path) -> None:
    """30% contradicting answers: the re-ask recovers them; whatever stays unusable is
    judge:unusable, never a verdict the clean judge would not give."""
    verdicts = {}
    for name, judge in (("clean", ModelProfile()), ("contradicting", ModelProfile(contradiction_rate=0.3))):
        folder = tmp_path / name
        folder.mkdir()
        async with SimServer(SimSettings(seed=5, models={"sim-judge": judge})) as sim:
            await build_seed(load_config(url_config(folder, sim.base_url, apis=16, dialogs=16)), "verify")
        verdicts[name] = {v["id"]: (v["passed"], v["reasons"]) for v in read_jsonl(folder / "run/seed/verify/verdicts.jsonl")}
    differing = {i: v for i, v in verdicts["contradicting"].items() if v != verdicts["clean"][i]}
    assert all(v == (False, ["judge:unusable"]) for v in differing.values()), differing
    assert len(differing) <= 2
    assert any(passed for passed, _ in verdicts["clean"].values())
