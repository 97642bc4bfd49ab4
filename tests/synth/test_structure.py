"""Dialog-structure rules (looptool.synth.structure through looptool.synth.verify): each reason
code, its configured bound or switch, and honest simulated turns that must not trip them."""

from __future__ import annotations

import random
import sys
from pathlib import Path

import anyio
import pytest

from looptool.samples import StepSample
from looptool.sim.phrasing import render_request, render_supplement
from looptool.synth.config import StructureSettings, VerifySettings
from looptool.synth.structure import repeats_itself
from looptool.synth.verify import rule_findings, RuleContext, subject_from_sample, verify

sys.path.insert(0, str(Path(__file__).parents[1] / "loop"))
from role_stub import ScriptedCaller

TOOLS = [
    {
        "name": "get_weather",
        "description": "Get the weather forecast for a city.",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}, "required": ["city"]},
    }
]
ASK = {"role": "user", "content": "Could you get the weather forecast for a city with the city Oslo?"}
CALL = {"name": "get_weather", "arguments": {"city": "Oslo"}}
LOOPING = ("The sunrise in New York is at 6:58 in the morning and the sunset is at 7:12 in the evening. " * 4).strip()


def codes(messages: list[dict], label_text: str | None = None, calls=(CALL,), settings: StructureSettings | None = None) -> list[str]:
    sample = StepSample(
        id="s1", tools=TOOLS, messages=messages, label_calls=list(calls), label_text=label_text, current_time="2024-05-01, Wednesday"
    )
    context = RuleContext(VerifySettings(structure=settings or StructureSettings()))
    return [f.reason for f in rule_findings(subject_from_sample(sample, None), context=context, use_judge=False)]


def test_a_clean_sample_has_no_structure_finding() -> None:
    assert codes([ASK]) == []


@pytest.mark.parametrize("content", ["", "   ", "\n\t", ",", '","', "?!", "..."])
def test_an_empty_or_wordless_user_turn_is_rejected(content) -> None:
    found = codes([{"role": "user", "content": content}, {"role": "assistant", "content": "Sure, which city?"}, ASK])
    assert "rule:empty_turn" in found


def test_an_assistant_turn_with_neither_text_nor_calls_is_empty() -> None:
    for content in ("", " ", "(no answer)"):
        found = codes([ASK, {"role": "assistant", "content": content}, ASK])
        assert "rule:empty_turn" in found, content
    assert "rule:empty_turn" in codes([ASK], label_text=" ", calls=())
    assert (
        codes([ASK, {"role": "assistant", "content": "", "tool_calls": [CALL]}, {"role": "tool", "name": "get_weather", "content": "{}"}])
        == []
    ), "a call turn needs no text"


def test_two_user_turns_in_a_row_are_rejected_unless_the_format_allows_them() -> None:
    messages = [{"role": "user", "content": "Hello there, I need some help."}, ASK]
    assert codes(messages) == ["rule:consecutive_user_turns"]
    assert codes(messages, settings=StructureSettings(allow_consecutive_user_turns=True)) == []


def test_an_assistant_turn_that_loops_is_rejected() -> None:
    assert "rule:assistant_repeats_itself" in codes([ASK], label_text=LOOPING, calls=())
    history = [ASK, {"role": "assistant", "content": LOOPING}, ASK]
    assert "rule:assistant_repeats_itself" in codes(history)


def test_repetition_measures() -> None:
    assert repeats_itself("Call the weather tool now. Call the weather tool now.", 16, 0.5), "a sentence of 4+ words said twice"
    unpunctuated = " ".join(["get the weather in oslo"] * 5)
    assert repeats_itself(unpunctuated, 16, 0.5), "repeated 4-grams without sentence breaks"
    assert repeats_itself(unpunctuated, 16, 0.9) is None, "the share bound is configurable"
    honest = "It will be sunny in Oslo tomorrow with a high of 18 degrees, and light rain is expected on Friday afternoon."
    assert repeats_itself(honest, 16, 0.5) is None
    assert repeats_itself("Yes. Yes. Okay, done.", 16, 0.5) is None, "short sentences may repeat"


def test_a_conversation_in_two_languages_is_rejected() -> None:
    spanish = {"role": "assistant", "content": "Claro, el pronóstico del tiempo para Oslo es soleado con una máxima de dieciocho grados."}
    assert "rule:mixed_language" in codes([ASK, spanish, ASK])
    assert codes([ASK, spanish, ASK], settings=StructureSettings(check_language=False)) == []
    short_foreign = {"role": "assistant", "content": "Gracias!"}
    assert codes([ASK, short_foreign, ASK]) == [], "too short to tell: not checked"
    for named in (
        "Flights from São Paulo to Rio de Janeiro on Friday please",
        "Play La Vie en Rose by Edith Piaf",
        "Translate 'buenos días, ¿cómo estás?' to English",
    ):
        assert (
            codes([ASK, {"role": "assistant", "content": "Sure."}, {"role": "user", "content": named}], label_text="Done.", calls=()) == []
        ), f"foreign names in an English turn are not another language: {named}"


def test_honest_simulated_turns_do_not_trip_the_language_or_repetition_rules() -> None:
    """Simulated users speak template English with random values; none of it may read as another
    language or as a loop (the seed pipeline's honest dialogs must pass)."""
    rng = random.Random(3)
    words = ["alpha", "berlin", "paris", "tokyo", "oslo", "quartz", "lumen", "nova", "orbit", "pixel", "tango", "willow"]
    tools = TOOLS + [
        {
            "name": "book_hotel",
            "description": "Book a hotel room in a city.",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}, "nights": {"type": "integer"}}},
        }
    ]
    for _ in range(60):
        phases = [
            [
                {"name": rng.choice(["get_weather", "book_hotel"]), "arguments": {"city": rng.choice(words)}}
                for _ in range(rng.randint(1, 3))
            ]
        ]
        user = {"role": "user", "content": render_request(tools, phases, rng)}
        supplement = {"role": "user", "content": render_supplement(tools, {"city": rng.choice(words)}, rng)}
        reply = {"role": "assistant", "content": "To do that I still need the city. Could you tell me?"}
        found = codes([user, reply, supplement], label_text="The forecast says sunny weather all week.", calls=())
        assert found == [], (user, supplement, found)


def test_lengths_are_bounded() -> None:
    long_turn = {"role": "user", "content": "Could you get the weather forecast for Oslo? " + "Please. " * 600}
    assert "rule:turn_too_long" in codes([long_turn])
    assert "rule:turn_too_long" not in codes([long_turn], settings=StructureSettings(max_turn_chars=10_000))
    many = [ASK, {"role": "assistant", "content": "Which day?"}] * 40 + [ASK]
    assert "rule:conversation_too_long" in codes(many)
    assert "rule:conversation_too_long" not in codes(many, settings=StructureSettings(max_messages=200))
    big_result = [
        ASK,
        {"role": "assistant", "content": "", "tool_calls": [CALL]},
        {"role": "tool", "name": "get_weather", "content": "x" * 30_000},
    ]
    assert codes(big_result) == ["rule:turn_too_long"]


def test_a_tool_result_without_its_call_is_rejected() -> None:
    stray = [ASK, {"role": "tool", "name": "get_weather", "content": "{}"}]
    assert "rule:tool_result_without_call" in codes(stray)


def test_structure_rules_reject_before_the_judge_in_verify() -> None:
    caller = ScriptedCaller(lambda sent: {"verdict": "pass", "reason": "ok"})
    sample = StepSample(
        id="s1", tools=TOOLS, messages=[{"role": "user", "content": "  "}, ASK], label_calls=[CALL], current_time="2024-05-01"
    )
    verdict = anyio.run(lambda: verify(caller, subject_from_sample(sample, "call"), True))
    assert verdict.reasons == ["rule:empty_turn", "rule:consecutive_user_turns"] and caller.sent == []
