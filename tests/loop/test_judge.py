"""JGLV unit rules (looptool.loop.judge): the conservative combination, position bias, what the
judge is shown, and the analysis handed to EDDE."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import anyio
import pytest

from looptool.loop.judge import combine, flags, judge_sample, orders_disagree, roles_analysis
from looptool.roles.caller import OutputInvalid
from looptool.samples import StepSample

sys.path.insert(0, str(Path(__file__).parent))
from role_stub import ScriptedCaller

FLAG_SETS = [(True, False), (False, True), (True, True), (False, False)]
CALL = [{"name": "get_weather", "arguments": {"city": "Oslo"}}]
WRONG = [{"name": "get_weather", "arguments": {"city": "Rome"}}]


def sample() -> StepSample:
    return StepSample(
        id="s1",
        tools=[{"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}}}],
        messages=[{"role": "user", "content": "Could you get the weather with the city Oslo?"}],
        label_calls=CALL,
        current_time="2024-05-01, Wednesday",
    )


def probe(calls=WRONG, ok: bool = True) -> dict:
    return {"format_ok": ok, "pred_calls": calls, "prediction": "<tool_call>...</tool_call>", "reasons": ["cut off"], "matched": False}


def test_flags_map_positions_back_to_label_and_prediction() -> None:
    assert flags("A_CORRECT_B_WRONG", label_first=True) == (True, False)
    assert flags("A_CORRECT_B_WRONG", label_first=False) == (False, True)
    assert flags("B_CORRECT_A_WRONG", label_first=True) == (False, True)
    assert flags("BOTH_CORRECT", label_first=False) == (True, True)
    assert flags("BOTH_WRONG", label_first=True) == (False, False)


@pytest.mark.parametrize("same", FLAG_SETS)
def test_combine_agreeing_orders_give_their_verdict(same) -> None:
    expected = {(True, False): "PRED_WRONG", (False, True): "LABEL_WRONG", (True, True): "BOTH_CORRECT", (False, False): "BOTH_WRONG"}[same]
    assert combine([same, same]) == expected
    assert combine([same]) == expected


@pytest.mark.parametrize("first,second", [p for p in itertools.permutations(FLAG_SETS, 2)])
def test_combine_any_disagreement_keeps_the_label(first, second) -> None:
    """A label changes, or a sample disappears, only when every order says so."""
    assert combine([first, second]) == "PRED_WRONG"


def test_combine_of_nothing_keeps_the_label() -> None:
    assert combine([]) == "PRED_WRONG"


def test_the_same_letter_in_both_orders_is_a_disagreement() -> None:
    """ "A_CORRECT_B_WRONG" twice: label right in one order, prediction right in the other."""
    record = {"orders": [{"label_first": True, "verdict": "A_CORRECT_B_WRONG"}, {"label_first": False, "verdict": "A_CORRECT_B_WRONG"}]}
    assert orders_disagree(record)
    consistent = {"orders": [{"label_first": True, "verdict": "A_CORRECT_B_WRONG"}, {"label_first": False, "verdict": "B_CORRECT_A_WRONG"}]}
    assert not orders_disagree(consistent)
    assert not orders_disagree(
        {"orders": [{"label_first": True, "error": "invalid_json"}, {"label_first": False, "verdict": "BOTH_WRONG"}]}
    )


def scripted(verdicts: dict[bool, object]) -> ScriptedCaller:
    """A judge whose answer depends on which position holds the label."""

    def answer(sent):
        label_first = sent.input["A"] == CALL
        value = verdicts[label_first]
        return (
            value
            if isinstance(value, OutputInvalid)
            else {"verdict": value, "analysis": "Answer B uses the wrong city; answer A is right."}
        )

    return ScriptedCaller(answer)


def run(caller, probe_result, order: str = "both") -> dict:
    return anyio.run(lambda: judge_sample(caller, sample(), probe_result, order, seed=3))


def test_both_orders_are_judged_with_the_date_tools_conversation_and_answers() -> None:
    caller = scripted({True: "A_CORRECT_B_WRONG", False: "B_CORRECT_A_WRONG"})
    result = run(caller, probe())
    assert result["verdict"] == "PRED_WRONG"
    sent = caller.tasks("label_verdict")
    assert [s.input["A"] == CALL for s in sent] == [True, False], "label shown first, then second"
    for s in sent:
        assert s.variables["current_time"] == "2024-05-01, Wednesday"
        assert s.input["tools"] == sample().tools and s.input["conversation"] == sample().messages
        assert {str(s.input["A"]), str(s.input["B"])} == {str(CALL), str(WRONG)}
    assert [o["label_ok"] for o in result["orders"]] == [True, True] and [o["pred_ok"] for o in result["orders"]] == [False, False]


GROUNDED = [{"name": "get_weather", "arguments": {"city": "oslo"}}]  # differs from the label, but said by the user


def test_a_consistent_label_wrong_verdict_replaces_the_label_and_maps_the_analysis() -> None:
    caller = scripted({True: "B_CORRECT_A_WRONG", False: "A_CORRECT_B_WRONG"})
    result = run(caller, probe(calls=GROUNDED))
    assert result["verdict"] == "LABEL_WRONG" and result["guard"] == {"blocked": False}
    # label first: "answer A" was the label (wrong), "answer B" the prediction (right)
    assert result["analysis"] == "The correct answer uses the wrong city; the incorrect answer is right."
    assert "answer A" not in result["analysis"] and "answer B" not in result["analysis"]


LABEL_IS_WRONG = {True: "B_CORRECT_A_WRONG", False: "A_CORRECT_B_WRONG"}


def test_the_guard_lets_a_label_be_replaced_only_by_a_prediction_grounded_in_the_conversation() -> None:
    """The judge says the prediction (city Rome) is right, but nobody said Rome: the label stands."""
    result = run(scripted(LABEL_IS_WRONG), probe())
    assert result["verdict"] == "PRED_WRONG"
    assert (
        result["guard"]["blocked"] and result["guard"]["reasons"] == ["ground:absent"] and result["guard"]["judge_verdict"] == "LABEL_WRONG"
    )
    assert "Rome" in result["guard"]["findings"][0]["message"] and "Rome" in result["analysis"]
    dropped = anyio.run(lambda: judge_sample(scripted(LABEL_IS_WRONG), sample(), probe(), "both", 3, blocked_fix="drop"))
    assert dropped["verdict"] == "BOTH_WRONG" and dropped["guard"]["became"] == "BOTH_WRONG"
    unguarded = anyio.run(lambda: judge_sample(scripted(LABEL_IS_WRONG), sample(), probe(), "both", 3, guard=False))
    assert unguarded["verdict"] == "LABEL_WRONG", "the control: without the guard the judge's word replaces the label"


LOOPING = "The sunrise in New York is at 6:58. " * 6


@pytest.mark.parametrize(
    "bad_probe,reason",
    [
        ({"pred_calls": [], "prediction": LOOPING}, "rule:assistant_repeats_itself"),
        ({"pred_calls": GROUNDED, "finish_reason": "length"}, "guard:truncated"),
        ({"pred_calls": [{"name": "get_weather", "arguments": {"city": "oslo", "when": "now"}}]}, "rule:unknown_argument"),
        ({"pred_calls": [{"name": "get_weather", "arguments": {"city": "<city>"}}]}, "ground:placeholder"),
        ({"pred_calls": [], "prediction": " , "}, "rule:empty_turn"),
    ],
)
def test_the_guard_refuses_predictions_that_fail_the_rule_tier(bad_probe, reason) -> None:
    """JGLV replaced a sensible label with looping prose on the quickstart: never again."""
    result = run(scripted(LABEL_IS_WRONG), {**probe(), **bad_probe})
    assert result["verdict"] == "PRED_WRONG" and reason in result["guard"]["reasons"]


def test_one_disagreeing_order_keeps_the_label() -> None:
    caller = scripted({True: "B_CORRECT_A_WRONG", False: "B_CORRECT_A_WRONG"})
    assert run(caller, probe())["verdict"] == "PRED_WRONG"


def test_an_unusable_judge_answer_never_changes_a_label() -> None:
    caller = scripted({True: "B_CORRECT_A_WRONG", False: OutputInvalid("invalid_json", "no JSON")})
    result = run(caller, probe())
    assert result["verdict"] == "PRED_WRONG" and result["orders"][1] == {"label_first": False, "error": "invalid_json"}


def test_a_malformed_prediction_is_an_error_without_asking_the_judge() -> None:
    caller = scripted({True: "BOTH_CORRECT", False: "BOTH_CORRECT"})
    result = run(caller, probe(calls=[], ok=False))
    assert result["verdict"] == "PRED_WRONG" and caller.sent == []


def test_random_order_makes_one_recorded_call() -> None:
    caller = scripted({True: "A_CORRECT_B_WRONG", False: "B_CORRECT_A_WRONG"})
    result = run(caller, probe(), order="random")
    assert len(caller.sent) == 1 and len(result["orders"]) == 1 and "label_first" in result["orders"][0]


def test_analysis_names_follow_the_verdict() -> None:
    text = "Answer A omits the date. B is right. A response A was given."
    assert roles_analysis(text, True, "the correct answer", "the incorrect answer") == (
        "The correct answer omits the date. The incorrect answer is right. A the correct answer was given."
    )
    assert roles_analysis("answer B is wrong", False, "the correct answer", "the incorrect answer") == "The correct answer is wrong"


def test_the_jglv_stage_counts_a_flipped_opinion_as_an_order_disagreement(tmp_path: Path) -> None:
    """The stage's count compares what each order says about label and prediction: a judge that
    always answers "A_CORRECT_B_WRONG" prefers whatever is shown first, and is counted."""
    from types import SimpleNamespace

    from looptool.config import load_config
    from looptool.loop.runner import LoopRunner, write_samples
    from looptool.store import JsonlWriter, RunStore, read_jsonl

    from loop_support import loop_config

    loaded = load_config(loop_config(tmp_path, dialogs=2, iterations=1, first_size=2))
    first_is_right = ScriptedCaller(lambda sent: {"verdict": "A_CORRECT_B_WRONG", "analysis": "Answer A is right."})
    with RunStore(loaded.run_dir) as store:
        runner = LoopRunner(loaded, store, SimpleNamespace(caller=first_is_right, client=None))
        samples = [sample().model_copy(update={"id": f"s{i}"}) for i in range(3)]
        write_samples(runner.dataset_path(1), samples)
        with JsonlWriter(store.path("iter_01/probe", "results.jsonl")) as out:
            for s in samples:
                out.write({"id": s.id, **probe()})
        counts = anyio.run(runner.judge, 1)
        verdicts = read_jsonl(store.path("iter_01/judge", "verdicts.jsonl"))
    assert counts["judged"] == 3 and counts["order_disagreements"] == 3
    assert counts["PRED_WRONG"] == 3 and all(v["verdict"] == "PRED_WRONG" for v in verdicts)
    assert counts["label_fix_checked"] == 0 and counts["label_fix_blocked"] == 0


def test_the_jglv_stage_counts_blocked_label_fixes_and_reports_them(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from looptool.config import load_config
    from looptool.loop.runner import LoopRunner, write_samples
    from looptool.store import JsonlWriter, RunStore, read_json

    from loop_support import loop_config

    loaded = load_config(loop_config(tmp_path, dialogs=2, iterations=1, first_size=2))
    with RunStore(loaded.run_dir) as store:
        runner = LoopRunner(loaded, store, SimpleNamespace(caller=scripted(LABEL_IS_WRONG), client=None))
        samples = [sample().model_copy(update={"id": f"s{i}"}) for i in range(3)]
        write_samples(runner.dataset_path(1), samples)
        with JsonlWriter(store.path("iter_01/probe", "results.jsonl")) as out:
            for s in samples:
                out.write({"id": s.id, **probe(calls=GROUNDED if s.id == "s0" else WRONG)})
        counts = anyio.run(runner.judge, 1)
    assert counts["LABEL_WRONG"] == 1 and counts["PRED_WRONG"] == 2
    assert counts["label_fix_checked"] == 3 and counts["label_fix_blocked"] == 2 and counts["label_fix_blocked[ground:absent]"] == 2
    report = read_json(tmp_path / "run/report/quality/iter_01_judge.json")
    assert report["checked"] == 3 and report["accepted"] == 1 and report["rejected_by_reason"] == {"ground:absent": 2}
    assert [e["id"] for e in report["examples"]["ground:absent"]] == ["s1", "s2"]
    assert "ground:absent" in (tmp_path / "run/report/quality/iter_01_judge.md").read_text()
