"""Two-tier verification (looptool.synth.verify): every rule, the plan check, the judge over call
and text steps, and one code path for seed dialogs and EDDE samples."""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
import pytest

from looptool.roles.caller import OutputInvalid
from looptool.samples import StepSample
from looptool.synth import verify as verification
from looptool.synth.verify import Finding, Rule, subject_from_dialog, subject_from_sample, verify, verify_dialog

sys.path.insert(0, str(Path(__file__).parents[1] / "loop"))
from role_stub import ScriptedCaller

TOOLS = [
    {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]},
    },
    {"name": "book_hotel", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}},
]
ASK = "Could you get the weather with the days 3?"
CALL = {"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}


def passing_judge(log=None) -> ScriptedCaller:
    return ScriptedCaller(lambda sent: {"verdict": "pass", "reason": "ok"})


def dialog(messages, steps, status="ok") -> dict:
    return {"id": "d1", "tools": TOOLS, "current_time": "2024-05-01, Wednesday", "messages": messages, "steps": steps, "status": status}


def call_dialog(expects="call", calls=(CALL,)) -> dict:
    messages = [
        {"role": "user", "content": "Could you get the weather with the city Oslo and the days 3?"},
        {"role": "assistant", "content": "", "tool_calls": list(calls)},
        {"role": "tool", "name": "get_weather", "content": "{}"},
        {"role": "assistant", "content": "It is sunny."},
    ]
    steps = [{"message_index": 1, "calls": list(calls), "rule_issues": [], "expects": expects, "request": 0}]
    return dialog(messages, steps)


def run_verify(record, caller=None, judge=True) -> dict:
    return anyio.run(lambda: verify_dialog(caller or passing_judge(), record, judge))


def test_a_good_dialog_passes_and_every_sample_step_is_judged() -> None:
    record = call_dialog()
    record["messages"] += [{"role": "user", "content": "Thanks, how are you?"}, {"role": "assistant", "content": "Fine, thanks!"}]
    record["steps"].append({"message_index": 5, "calls": [], "rule_issues": [], "expects": "no_tool", "request": 1})
    caller = passing_judge()
    verdict = run_verify(record, caller)
    assert verdict["passed"] and verdict["reasons"] == []
    sent = caller.tasks("verify_step")
    assert [s.input["answer"] for s in sent] == [[CALL], {"text": "Fine, thanks!"}], "text steps are judged too; summaries are not"
    assert [len(s.input["conversation"]) for s in sent] == [1, 5]
    assert all(s.variables["current_time"] == "2024-05-01, Wednesday" for s in sent)
    assert [s["index"] for s in verdict["steps"]] == [1, 5]


def test_a_planned_call_answered_in_prose_is_rejected() -> None:
    messages = [
        {"role": "user", "content": "Could you get the weather with the city Oslo?"},
        {"role": "assistant", "content": "It is probably sunny."},
    ]
    verdict = run_verify(dialog(messages, [{"message_index": 1, "calls": [], "rule_issues": [], "expects": "call", "request": 0}]))
    assert verdict["reasons"] == ["plan:call_answered_in_text"] and not verdict["passed"]


def test_a_no_tool_request_answered_with_a_call_is_rejected() -> None:
    verdict = run_verify(call_dialog(expects="no_tool"))
    assert verdict["reasons"] == ["plan:no_tool_answered_with_call"]


def test_a_call_instead_of_asking_for_the_withheld_argument_is_rejected() -> None:
    verdict = run_verify(call_dialog(expects="ask"))
    assert verdict["reasons"] == ["plan:missing_argument_not_asked"]


def test_a_step_either_way_after_tool_results_is_not_a_plan_violation() -> None:
    assert run_verify(call_dialog(expects=None))["passed"]


def test_schema_rules_name_their_reason() -> None:
    verdict = run_verify(call_dialog(calls=[{"name": "get_weather", "arguments": {"days": "3"}}]))
    assert verdict["reasons"] == ["rule:missing_required", "rule:wrong_type"]
    verdict = run_verify(call_dialog(calls=[{"name": "ghost", "arguments": {}}]))
    assert verdict["reasons"][0] == "rule:unknown_tool"


def test_rules_run_before_the_judge_and_the_judge_is_not_asked_when_a_rule_fails() -> None:
    caller = passing_judge()
    run_verify(call_dialog(calls=[{"name": "ghost", "arguments": {}}]), caller)
    assert caller.sent == []


def test_judge_failure_and_unusable_answers_reject() -> None:
    failing = ScriptedCaller(lambda sent: {"verdict": "fail", "reason": "wrong city"})
    assert run_verify(call_dialog(), failing)["reasons"] == ["judge:fail"]
    broken = ScriptedCaller(lambda sent: OutputInvalid("invalid_json", "no JSON"))
    verdict = run_verify(call_dialog(), broken)
    assert verdict["reasons"] == ["judge:unusable"] and not verdict["passed"]


def test_an_unfinished_simulation_is_rejected_with_its_status() -> None:
    record = call_dialog()
    record["status"] = "rule_failed"
    assert run_verify(record)["reasons"] == ["dialog:rule_failed"]


def test_tool_results_must_follow_their_calls() -> None:
    record = call_dialog()
    record["messages"][2]["name"] = "book_hotel"
    assert "rule:tool_results_mismatch" in run_verify(record)["reasons"]
    record = call_dialog()
    del record["messages"][2]
    assert "rule:tool_results_mismatch" in run_verify(record)["reasons"]
    stray = dialog(
        [{"role": "user", "content": "hi"}, {"role": "tool", "name": "x", "content": "{}"}, {"role": "assistant", "content": "ok"}], []
    )
    assert "rule:tool_result_without_call" in run_verify(stray)["reasons"]


def edde_sample(messages, calls=(), text=None) -> StepSample:
    return StepSample(
        id="s-i01e0", tools=TOOLS, messages=messages, label_calls=list(calls), label_text=text, current_time="2024-05-01, Wednesday"
    )


def test_an_edde_sample_goes_through_the_same_rules_and_judge() -> None:
    multi = edde_sample(
        [
            {"role": "user", "content": "First, please get the weather with the city Oslo. After that, book the hotel with the city Oslo."},
            {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "Oslo"}}]},
            {"role": "tool", "name": "get_weather", "content": '{"sky": "clear"}'},
        ],
        calls=[{"name": "book_hotel", "arguments": {"city": "Oslo"}}],
    )
    caller = passing_judge()
    verdict = anyio.run(lambda: verify(caller, subject_from_sample(multi, "call"), True))
    assert verdict.passed
    assert [len(s.input["conversation"]) for s in caller.tasks("verify_step")] == [1, 3], "the history's call step is judged too"
    bad_history = multi.model_copy(deep=True)
    bad_history.messages[1]["tool_calls"][0]["name"] = "ghost"
    assert anyio.run(lambda: verify(caller, subject_from_sample(bad_history, "call"), True)).reasons[0] == "rule:unknown_tool"
    text_seed_variant_with_a_call = edde_sample([{"role": "user", "content": ASK}], calls=[CALL])
    reasons = anyio.run(lambda: verify(caller, subject_from_sample(text_seed_variant_with_a_call, "ask"), True)).reasons
    assert reasons == ["plan:missing_argument_not_asked", "ground:absent"], "the call also invents the city nobody gave"
    empty = edde_sample([], calls=[CALL])
    assert "rule:step_not_after_user_or_tool" in anyio.run(lambda: verify(caller, subject_from_sample(empty, "call"), False)).reasons


def test_adding_a_rule_is_one_entry_and_both_paths_apply_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_oslo(subject, context):
        if any("Oslo" in str(m.get("content")) for m in subject.messages):
            yield Finding(reason="rule:no_oslo", message="Oslo is banned")

    monkeypatch.setattr(verification, "RULES", [*verification.RULES, Rule("no Oslo", ("rule:no_oslo",), no_oslo)])
    assert run_verify(call_dialog())["reasons"] == ["rule:no_oslo"]
    sample = edde_sample(
        [{"role": "user", "content": "Could you get the weather with the city Oslo?"}],
        calls=[{"name": "get_weather", "arguments": {"city": "Oslo"}}],
    )
    assert anyio.run(lambda: verify(passing_judge(), subject_from_sample(sample, "call"), True)).reasons == ["rule:no_oslo"]


def test_subject_from_dialog_takes_call_steps_and_text_steps_after_a_user() -> None:
    subject = subject_from_dialog(call_dialog())
    assert [(s.index, bool(s.calls), s.expects) for s in subject.steps] == [(1, True, "call")], "the closing summary is context"
