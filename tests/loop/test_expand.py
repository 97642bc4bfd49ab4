"""EDDE unit rules (looptool.loop.expand): what the generator is shown, per-sample scenarios,
text seeds, multi-step history, and verification of what comes back."""

from __future__ import annotations

import json
import random
import sys
from pathlib import Path

import anyio
import jsonschema

from looptool.loop.config import ExpandSettings
from looptool.loop.expand import answer_kind, expand_seed, scenario_for
from looptool.roles.schemas import expanded_samples_schema_for
from looptool.samples import Provenance, StepSample
from looptool.sim.roles import expanded_samples, step_verdict
from looptool.sim.settings import ModelProfile
from looptool.sim.world import canonical_step, turns_from_messages
from looptool.synth.config import GroundingSettings, VerifySettings

sys.path.insert(0, str(Path(__file__).parent))
from role_stub import ScriptedCaller

TOOLS = [
    {
        "name": "get_weather",
        "description": "Get the weather forecast for a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "days": {"type": "integer"}},
            "required": ["city", "days"],
        },
    },
    {
        "name": "book_hotel",
        "description": "Book a hotel room in a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "nights": {"type": "integer"}}, "required": ["city"]},
    },
]
RIGHT = [{"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}]
OLD_WRONG = [{"name": "get_weather", "arguments": {"city": "Oslo", "days": 5}}]
SETTINGS = ExpandSettings(k=4)


def seed(**updates) -> StepSample:
    base = StepSample(
        id="d000001-m001",
        tools=TOOLS,
        current_time="2025-02-03, Monday",
        messages=[{"role": "user", "content": "Could you get the weather forecast for a city with the city Oslo and the days 3?"}],
        label_calls=RIGHT,
        provenance=Provenance(origin="seed", verdicts={"expects": "call"}),
    )
    return base.model_copy(update=updates)


def simulated(profile: ModelProfile | None = None) -> ScriptedCaller:
    """The simulator's generator and judge behind the stub (real world logic, no server)."""
    profile = ModelProfile() if profile is None else profile

    def answer(sent):
        rng = random.Random(json.dumps(sent.variables, sort_keys=True))
        if sent.task == "expand":
            value = expanded_samples({}, sent.input, rng, profile)
            jsonschema.validate(value, sent.schema)  # what a structured-output server would enforce
            return value
        return step_verdict({}, sent.input, rng, ModelProfile())

    return ScriptedCaller(answer)


def expand(sample: StepSample, verdict: dict, probe: dict, caller=None, settings=SETTINGS) -> tuple[dict, ScriptedCaller]:
    caller = caller or simulated()
    return anyio.run(lambda: expand_seed(caller, sample, verdict, probe, settings, 1, 11)), caller


def test_label_wrong_seed_sends_the_old_wrong_label_as_the_incorrect_answer() -> None:
    fixed = seed(provenance=Provenance(origin="label_fix", previous_label=OLD_WRONG, analysis="the incorrect answer asks for 5 days"))
    probe = {"pred_calls": RIGHT, "prediction": "<tool_call>...</tool_call>"}
    _, caller = expand(fixed, {"verdict": "LABEL_WRONG", "analysis": "The incorrect answer asks for 5 days."}, probe)
    sent = caller.tasks("expand")[0]
    assert sent.input["correct"] == RIGHT and sent.input["incorrect"] == OLD_WRONG
    assert sent.input["analysis"] == "The incorrect answer asks for 5 days."


def test_pred_wrong_seed_sends_the_prediction_as_the_incorrect_answer_with_the_date() -> None:
    probe = {"pred_calls": OLD_WRONG, "prediction": "<tool_call>...</tool_call>"}
    _, caller = expand(seed(), {"verdict": "PRED_WRONG", "analysis": "x"}, probe)
    sent = caller.tasks("expand")[0]
    assert sent.input["correct"] == RIGHT and sent.input["incorrect"] == OLD_WRONG
    assert sent.variables["current_time"] == "2025-02-03, Monday" and sent.input["answer_kind"] == "call"
    text_prediction = {"pred_calls": [], "prediction": "Which city?"}
    _, caller = expand(seed(), {"verdict": "PRED_WRONG"}, text_prediction)
    assert caller.tasks("expand")[0].input["incorrect"] == {"text": "Which city?"}


def test_each_new_sample_draws_its_own_scenario_and_the_samples_differ() -> None:
    result, caller = expand(seed(), {"verdict": "PRED_WRONG"}, {"pred_calls": OLD_WRONG, "prediction": ""})
    scenarios = caller.tasks("expand")[0].input["scenarios"]
    assert scenarios == [scenario_for(SETTINGS, 11, 1, "d000001-m001", n) for n in range(4)] == result["scenarios"]
    draws = [[scenario_for(SETTINGS, 11, 1, f"seed{i}", n) for n in range(4)] for i in range(40)]
    assert any(len(set(d)) > 1 for d in draws), "drawn per sample, not once per seed"
    assert {s for d in draws for s in d} == set(SETTINGS.scenarios), "uniform over every scenario"
    verified = [StepSample.model_validate(v) for v in result["verified"]]
    assert len(verified) == 4 and len({json.dumps(v.label_calls, sort_keys=True) for v in verified}) == 4
    assert [v.provenance.analysis for v in verified] == scenarios
    for sample in verified:
        assert sample.provenance.origin == "edde" and sample.provenance.parent_id == "d000001-m001"
        assert canonical_step(sample.tools, turns_from_messages(sample.messages)).calls == sample.label_calls


def test_text_seeds_are_expanded_into_text_samples() -> None:
    asking = seed(
        label_calls=[],
        label_text="To do that I still need the days. Could you tell me?",
        messages=[{"role": "user", "content": "Could you get the weather forecast for a city with the city Oslo?"}],
        provenance=Provenance(origin="seed", verdicts={"expects": "ask"}),
    )
    assert answer_kind(asking) == "ask"
    result, caller = expand(asking, {"verdict": "PRED_WRONG"}, {"pred_calls": RIGHT, "prediction": ""})
    sent = caller.tasks("expand")[0]
    assert sent.input["answer_kind"] == "ask" and sent.input["correct"] == {"text": asking.label_text}
    assert sent.schema["properties"]["samples"]["items"]["properties"]["calls"]["maxItems"] == 0
    verified = [StepSample.model_validate(v) for v in result["verified"]]
    assert len(verified) == 4
    for sample in verified:
        assert sample.label_calls == [] and sample.label_text and sample.provenance.verdicts["expects"] == "ask"
        assert canonical_step(sample.tools, turns_from_messages(sample.messages)).asks_for, "each variant really lacks an argument"
    judged = caller.tasks("verify_step")
    assert judged and all(isinstance(s.input["answer"], dict) and "text" in s.input["answer"] for s in judged)


def test_a_text_seed_variant_that_calls_is_rejected() -> None:
    no_tool = seed(
        label_calls=[],
        label_text="Happy to help.",
        messages=[{"role": "user", "content": "Tell me something nice."}],
        provenance=Provenance(origin="seed", verdicts={"expects": "no_tool"}),
    )

    def generator(sent):
        if sent.task == "expand":
            item = {
                "scenario": "x",
                "history": [],
                "user": "Could you get the weather forecast for a city with the city Rome and the days 2?",
                "calls": [{"name": "get_weather", "arguments": {"city": "Rome", "days": 2}}],
                "reply": "",
            }
            return {"samples": [item]}
        return {"verdict": "pass", "reason": "ok"}

    result, _ = expand(
        no_tool, {"verdict": "PRED_WRONG"}, {"pred_calls": RIGHT, "prediction": ""}, ScriptedCaller(generator), ExpandSettings(k=1)
    )
    assert result["verified"] == [] and result["rejected"][0]["reason"] == "plan:no_tool_answered_with_call"


def test_multi_step_seeds_grow_multi_step_samples_verified_step_by_step() -> None:
    first = [{"name": "get_weather", "arguments": {"city": "Oslo", "days": 3}}]
    second = [{"name": "book_hotel", "arguments": {"city": "Oslo", "nights": 2}}]
    dependent = seed(
        label_calls=second,
        messages=[
            {
                "role": "user",
                "content": "First, please get the weather forecast for a city with the city Oslo and the days 3. After that, book a hotel room in a city with the city Oslo and the nights 2.",
            },
            {"role": "assistant", "content": "", "tool_calls": first},
            {"role": "tool", "name": "get_weather", "content": '{"sky": "clear"}'},
        ],
    )
    result, caller = expand(dependent, {"verdict": "PRED_WRONG"}, {"pred_calls": first, "prediction": ""})
    verified = [StepSample.model_validate(v) for v in result["verified"]]
    assert len(verified) == 4
    for sample in verified:
        assert [m["role"] for m in sample.messages] == ["user", "assistant", "tool"]
        assert sample.messages[1]["tool_calls"] and sample.label_calls[0]["name"] == "book_hotel"
    conversations = sorted({len(s.input["conversation"]) for s in caller.tasks("verify_step")})
    assert conversations == [1, 3], "the history's call step and the answer are both judged"


def test_history_with_calls_and_tool_results_fits_the_output_schema() -> None:
    schema = expanded_samples_schema_for(TOOLS, 1)
    item = {
        "scenario": "s",
        "user": "",
        "reply": "",
        "calls": second_call(),
        "history": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "", "tool_calls": [{"name": "get_weather", "arguments": {"city": "A", "days": 1}}]},
            {"role": "tool", "name": "get_weather", "content": "{}"},
        ],
    }
    jsonschema.validate({"samples": [item]}, schema)
    item["history"][1]["tool_calls"][0]["name"] = "ghost"
    try:
        jsonschema.validate({"samples": [item]}, schema)
    except jsonschema.ValidationError:
        pass
    else:
        raise AssertionError("a history call to a tool that is not offered must not fit")


def second_call() -> list[dict]:
    return [{"name": "book_hotel", "arguments": {"city": "A"}}]


def test_noisy_generated_samples_are_caught_by_grounding_and_otherwise_by_the_judge() -> None:
    """The noisy generator's labels disagree with its own user text: grounding finds the invented
    value before any judge call; with grounding off the judge still catches every one."""
    caller = simulated(ModelProfile(wrong_call_rate=1.0))
    result, _ = expand(seed(), {"verdict": "PRED_WRONG"}, {"pred_calls": OLD_WRONG, "prediction": ""}, caller)
    assert result["verified"] == [] and {r["reason"] for r in result["rejected"]} == {"ground:absent"}
    assert caller.tasks("verify_step") == [], "the rule tier rejected them: no judge call"
    no_grounding = VerifySettings(grounding=GroundingSettings(enabled=False))
    judged = simulated(ModelProfile(wrong_call_rate=1.0))
    result = anyio.run(
        lambda: expand_seed(
            judged, seed(), {"verdict": "PRED_WRONG"}, {"pred_calls": OLD_WRONG, "prediction": ""}, SETTINGS, 1, 11, no_grounding
        )
    )
    assert result["verified"] == [] and {r["reason"] for r in result["rejected"]} == {"judge:fail"}


def generator_of(items: list[dict]) -> ScriptedCaller:
    """A generator that writes these samples, and a judge that passes everything (so only the
    rule tier decides)."""

    def answer(sent):
        if sent.task == "expand":
            return {"samples": items}
        return {"verdict": "pass", "reason": "ok"}

    return ScriptedCaller(answer)


def item(user: str, calls: list[dict], history: list | None = None) -> dict:
    return {"scenario": "s", "history": history or [], "user": user, "calls": calls, "reply": ""}


def run_items(items: list[dict], the_seed: StepSample | None = None, probe: dict | None = None) -> dict:
    result, _ = expand(
        the_seed or seed(),
        {"verdict": "PRED_WRONG"},
        probe or {"pred_calls": OLD_WRONG, "prediction": ""},
        generator_of(items),
        ExpandSettings(k=len(items)),
    )
    return result


def test_a_variant_must_share_the_seeds_tools_or_its_error_kind() -> None:
    """The seed's difficulty is get_weather's days; a hotel booking keeps none of it."""
    hotel = item(
        "Could you book a hotel room in a city with the city Bergen and the nights 2?",
        [{"name": "book_hotel", "arguments": {"city": "Bergen", "nights": 2}}],
    )
    weather = item(
        "Could you get the weather forecast for a city with the city Bergen and the days 2?",
        [{"name": "get_weather", "arguments": {"city": "Bergen", "days": 2}}],
    )
    result = run_items([hotel, weather])
    assert [r["reasons"] for r in result["rejected"]] == [["edde:unrelated_to_seed"]]
    assert [v["label_calls"][0]["name"] for v in result["verified"]] == ["get_weather"]
    # a seed the policy answered in prose: the error is "no call made", any call variant keeps it
    result = run_items([hotel], probe={"pred_calls": [], "prediction": "It is sunny."})
    assert result["rejected"] == [] and len(result["verified"]) == 1
    # a seed where the policy made too many calls: as many calls as the seed keeps the error kind
    assert len(run_items([hotel], probe={"pred_calls": RIGHT + second_call(), "prediction": ""})["verified"]) == 1
    two_hotels = item(
        "Could you book a hotel room in a city with the city Bergen, and also book a hotel room in a city with the city Rome?",
        [{"name": "book_hotel", "arguments": {"city": "Bergen"}}, {"name": "book_hotel", "arguments": {"city": "Rome"}}],
    )
    assert run_items([two_hotels], probe={"pred_calls": RIGHT + second_call(), "prediction": ""})["rejected"][0]["reasons"] == [
        "edde:unrelated_to_seed"
    ]
    # a seed where the policy confused the tools: the confused tool keeps the error kind
    result = run_items([hotel], probe={"pred_calls": [{"name": "book_hotel", "arguments": {"city": "Oslo"}}], "prediction": ""})
    assert result["rejected"] == [] and len(result["verified"]) == 1


def test_a_variant_that_copies_its_seed_is_rejected() -> None:
    copy = item(seed().messages[0]["content"], RIGHT)
    result = run_items([copy])
    assert result["rejected"][0]["reasons"] == ["edde:near_duplicate_of_seed"]


def test_edde_junk_from_the_quickstart_is_rejected_by_structure_and_grounding() -> None:
    """Empty user turns, two user turns in a row, a riddle for a user turn."""
    empty = item("  ", [{"name": "get_weather", "arguments": {"city": "Bergen", "days": 2}}])
    twice = item(
        "Could you get the weather forecast for a city with the city Bergen and the days 2?",
        [{"name": "get_weather", "arguments": {"city": "Bergen", "days": 2}}],
        history=[{"role": "user", "content": "Hello, I have a question about the weather."}],
    )
    riddle = item("What has keys but can't open locks? A piano!", [{"name": "get_weather", "arguments": {"city": "Bergen", "days": 2}}])
    result = run_items([empty, twice, riddle])
    assert [r["reasons"] for r in result["rejected"]] == [
        ["rule:empty_turn", "ground:absent"],
        ["rule:consecutive_user_turns"],
        ["ground:absent"],
    ]
    assert result["verified"] == []
    assert "get_weather.city = 'Bergen'" in result["rejected"][2]["findings"][0]["message"]


def test_error_kinds() -> None:
    from looptool.loop.expand import error_kind

    assert error_kind(RIGHT, {"text": "x"}) == "answered_in_text"
    assert error_kind({"text": "Which city?"}, RIGHT) == "called_instead_of_text"
    assert error_kind(RIGHT, RIGHT + second_call()) == "call_count"
    assert error_kind(RIGHT, second_call()) == "tool_choice"
    assert error_kind(RIGHT, OLD_WRONG) == "arguments"
    assert error_kind({"text": "a"}, {"text": "b"}) == "text"
