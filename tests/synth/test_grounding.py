"""Grounding of call arguments (looptool.synth.grounding): a table of tricky cases a careful
annotator accepts or refuses (docs/quality.md explains each), and the policy that decides what a
finding does (reject, judge, flag) inside verification."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import anyio
import pytest

from looptool.synth.config import GroundingSettings, VerifySettings
from looptool.synth.grounding import GroundingContext, code_for, ground_arguments
from looptool.synth.verify import subject_from_dialog, verify

sys.path.insert(0, str(Path(__file__).parents[1] / "loop"))
from role_stub import ScriptedCaller

FRIDAY = "2024-03-15, Friday"
STRING, INTEGER, NUMBER, BOOLEAN = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "boolean"}


def grounded(value, schema, said: str, current_time: str = FRIDAY, parameter: str = "x", tool: str | None = None):
    messages = [{"role": "user", "content": said}]
    if tool is not None:
        messages += [
            {"role": "assistant", "content": "", "tool_calls": [{"name": "f", "arguments": {}}]},
            {"role": "tool", "name": "f", "content": tool},
        ]
    context = GroundingContext.of(messages, current_time)
    [leaf] = ground_arguments({"name": "f", "arguments": {parameter: value}}, {parameter: schema}, context, 1)
    return leaf


# (value, schema, what the user said, parameter, expected basis)
ACCEPTED = [
    ("Oslo", STRING, "What's the weather in Oslo?", "city", "stated"),
    ("new york", STRING, "Flights to New  York please", "city", "stated"),  # case and spacing
    ("Zurich", STRING, "Hotels in Zürich", "city", "stated"),  # accents
    ("running", STRING, "Log a 2 hour run", "activity", "normalised"),  # word forms
    (1000, INTEGER, "Send 1,000 euros", "amount", "normalised"),  # thousands separator
    (1000.0, NUMBER, "Send 1000 euros", "amount", "stated"),  # 1000 == 1000.0
    (1000, INTEGER, "Send 1000.0 euros", "amount", "stated"),
    ("1000", STRING, "Send 1,000 euros", "amount", "normalised"),  # a number written as a string
    (3, INTEGER, "Book three nights", "nights", "normalised"),  # spelled numbers
    (25, INTEGER, "twenty five guests", "guests", "normalised"),
    (5000, INTEGER, "a budget of 5k", "budget", "normalised"),  # multipliers
    (2000000, INTEGER, "2 million views", "views", "normalised"),
    (15, NUMBER, "tip 15%", "tip", "stated"),  # percentages both ways
    (0.15, NUMBER, "tip 15%", "tip", "normalised"),
    (120, INTEGER, "a 2 hour workout", "minutes", "normalised"),  # units
    (30, INTEGER, "for half an hour", "duration_minutes", "normalised"),
    (5000, INTEGER, "run 5 km", "meters", "normalised"),
    (22.2, NUMBER, "set it to 72 °F", "celsius", "normalised"),
    ("2024-03-18", STRING, "sunrise in New York on March 18", "date", "normalised"),  # date formats
    ("2024-03-18", STRING, "on 18/03/2024", "date", "normalised"),
    ("2024-03-18", STRING, "on 3/18/2024", "date", "normalised"),
    ("2024-03-18", STRING, "on the 18th of March", "date", "normalised"),
    ("2024-03-18", STRING, "sunrise in New York next Monday", "date", "relative_date"),  # relative to current_time
    ("2024-03-25", STRING, "sunrise in New York next Monday", "date", "relative_date"),  # "next" read as next week
    ("2024-03-16", STRING, "tomorrow please", "date", "relative_date"),
    ("2024-03-18", STRING, "in three days", "date", "relative_date"),
    ("2024-03-16", STRING, "something fun this weekend", "date", "relative_date"),
    ("2024-03-15T15:00:00", STRING, "today at 3pm", "when", "relative_date"),
    ("15:00", STRING, "meet at 3 pm", "time", "normalised"),
    ("07:30", STRING, "wake me at 7:30 am", "time", "normalised"),
    ("2024-03-15", STRING, "what is the exchange rate?", "date", "conversation_date"),
    ("business", {"type": "string", "enum": ["economy", "business"]}, "a business class seat", "cabin", "enum_member"),
    ("celsius", {"type": "string", "enum": ["celsius", "fahrenheit"]}, "weather in Oslo", "unit", "enum_choice"),
    ("EUR", {"type": "string", "default": "EUR"}, "send 5 to Bob", "currency", "default"),
    (True, BOOLEAN, "only doctors taking new patients", "accepts_new_patients", "boolean"),  # implied by the request
    (False, BOOLEAN, "find a dermatologist", "include_closed", "boolean_choice"),
    (1, INTEGER, "book a room in Rome", "rooms", "implied_one"),
    (None, STRING, "anything", "note", "null"),
    ("test@example.com", STRING, "email test@example.com", "to", "stated"),  # a soft placeholder the user really gave
    ("Running late, sorry!", STRING, "tell Bob I'm running late", "body", "partial"),  # most words of a composed text
    ("MMM", STRING, "a quote for the ticker MMM", "ticker", "stated"),  # not a date format
    ("maple", STRING, "with the maple 4 maple", "maple_4", "stated"),  # a word of an odd parameter name, really given
]


@pytest.mark.parametrize("value,schema,said,parameter,basis", ACCEPTED)
def test_values_a_careful_annotator_accepts(value, schema, said, parameter, basis) -> None:
    leaf = grounded(value, schema, said, parameter=parameter)
    assert leaf.basis == basis, leaf
    assert code_for(leaf, 0.5) is None, f"{value!r} from {said!r} should be grounded: {leaf}"


def test_values_from_an_earlier_tool_result_are_grounded() -> None:
    leaf = grounded("ORD-1234", STRING, "track my last order", parameter="order_id", tool=json.dumps({"orders": [{"id": "ORD-1234"}]}))
    assert (leaf.basis, leaf.score) == ("tool_result", 1.0)
    assert grounded(7, INTEGER, "how many?", tool='{"count": 7}').basis == "tool_result"
    assert grounded("orders", STRING, "track it", parameter="kind", tool='{"orders": []}').basis == "absent", (
        "keys are structure, not values"
    )


# (value, schema, what the user said, parameter, expected reason code)
REFUSED = [
    ("1234567890", STRING, '","', "from_account", "ground:absent"),  # the quickstart's transfer_money
    (100, NUMBER, '","', "amount", "ground:absent"),
    (
        "country",
        {"type": "string", "description": "Traveller's citizenship country"},
        "Your plan is here.",
        "citizenship",
        "ground:repeats_parameter",
    ),
    ("destination", STRING, "I want to go to my destination", "destination", "ground:repeats_parameter"),  # even when said
    ("account", STRING, "move money", "from_account", "ground:repeats_parameter"),  # part of the name, nobody said it
    ("string", STRING, "book a string quartet", "name", "ground:placeholder"),
    ("value", STRING, "any", "key", "ground:placeholder"),
    ("xxx", STRING, "any", "code", "ground:placeholder"),
    ("<city>", STRING, "weather in <city>", "city", "ground:placeholder"),  # a template, even when the user turn holds it too
    ("{date}", STRING, "any", "date", "ground:placeholder"),
    ("YYYY-MM-DD", STRING, "any", "date", "ground:placeholder"),
    ("your_api_key", STRING, "any", "key", "ground:placeholder"),
    ("", STRING, "any", "query", "ground:placeholder"),
    ("test", STRING, "run the report", "name", "ground:placeholder"),  # soft placeholder nobody said
    ("Paris", STRING, "weather in Oslo", "city", "ground:absent"),
    (4, INTEGER, "book three nights", "nights", "ground:absent"),
    (5, INTEGER, "check in on 2024-05-01", "nights", "ground:absent"),  # digits inside a date are not a number of their own
    ("2024-03-19", STRING, "next Monday", "date", "ground:absent"),  # a Tuesday
    ("2024-03-18", STRING, "next Monday", "date", "ground:absent"),  # ... checked against a conversation without a date
    ("2024-03-15T18:00:00", STRING, "today at 3pm", "when", "ground:weak"),  # the day is right, the hour nobody gave
    ("Quarterly results are attached for your review", STRING, "email the team about the results", "body", "ground:weak"),  # 1 word of 4
]


@pytest.mark.parametrize("value,schema,said,parameter,code", REFUSED)
def test_values_a_careful_annotator_refuses(value, schema, said, parameter, code) -> None:
    current_time = "Unknown" if said == "next Monday" and value == "2024-03-18" else FRIDAY
    leaf = grounded(value, schema, said, current_time, parameter=parameter)
    assert code_for(leaf, 0.5) == code, leaf


def test_nested_values_are_grounded_one_by_one_and_named_by_path() -> None:
    schema = {"type": "array", "items": {"type": "object", "properties": {"city": STRING, "nights": INTEGER}}}
    context = GroundingContext.of([{"role": "user", "content": "Oslo for 2 nights, then Rome"}], FRIDAY)
    leaves = ground_arguments(
        {"name": "plan", "arguments": {"stops": [{"city": "Oslo", "nights": 2}, {"city": "Rome", "nights": 9}]}},
        {"stops": schema},
        context,
        1,
    )
    assert [(g.argument, g.basis) for g in leaves] == [
        ("plan.stops[0].city", "stated"),
        ("plan.stops[0].nights", "stated"),
        ("plan.stops[1].city", "stated"),
        ("plan.stops[1].nights", "absent"),
    ]


def test_raising_accept_score_refuses_choices_nobody_made() -> None:
    leaf = grounded("celsius", {"type": "string", "enum": ["celsius", "fahrenheit"]}, "weather in Oslo", parameter="unit")
    assert code_for(leaf, 0.5) is None and code_for(leaf, 0.7) == "ground:weak"


# -- the policy inside verification -----------------------------------------------------------------
TOOLS = [
    {
        "name": "transfer_money",
        "parameters": {
            "type": "object",
            "properties": {"from_account": STRING, "to_account": STRING, "amount": NUMBER},
            "required": ["from_account", "to_account", "amount"],
        },
    }
]
JUNK = {"name": "transfer_money", "arguments": {"from_account": "1234567890", "to_account": "1234567890", "amount": 100}}


def junk_dialog(user: str = "Please move some money for me.", calls=(JUNK,)) -> dict:
    messages = [
        {"role": "user", "content": user},
        {"role": "assistant", "content": "", "tool_calls": list(calls)},
        {"role": "tool", "name": "transfer_money", "content": "{}"},
        {"role": "assistant", "content": "Done, the money is on its way."},
    ]
    return {
        "id": "d1",
        "tools": TOOLS,
        "current_time": FRIDAY,
        "messages": messages,
        "status": "ok",
        "steps": [{"message_index": 1, "calls": list(calls), "rule_issues": [], "expects": "call", "request": 0}],
    }


def rubber_stamp() -> ScriptedCaller:
    return ScriptedCaller(lambda sent: {"verdict": "pass", "reason": "ok"})


def check(record: dict, policy: str = "reject", judge: bool = True, caller=None):
    settings = VerifySettings(grounding=GroundingSettings(policy=policy))
    return anyio.run(lambda: verify(caller or rubber_stamp(), subject_from_dialog(record), judge, settings))


def test_by_default_the_quickstart_junk_is_rejected_naming_each_argument_before_any_judge_call() -> None:
    caller = rubber_stamp()
    verdict = check(junk_dialog(), caller=caller)
    assert not verdict.passed and verdict.reasons == ["ground:absent"]
    assert check(junk_dialog('","')).reasons == ["rule:empty_turn", "ground:absent"], "the quickstart's user turn itself says nothing"
    assert [f.argument for f in verdict.findings] == ["transfer_money.from_account", "transfer_money.to_account", "transfer_money.amount"]
    assert caller.sent == [], "a rubber-stamping judge never gets to pass it"


def test_the_judge_policy_sends_the_step_to_the_judge_with_the_findings_attached() -> None:
    caller = rubber_stamp()
    verdict = check(junk_dialog(), policy="judge", caller=caller)
    assert verdict.passed, "the judge was asked and passed it"
    [sent] = caller.tasks("verify_step")
    assert len(sent.input["checks"]) == 3 and "from_account" in sent.input["checks"][0]
    failing = ScriptedCaller(lambda sent: {"verdict": "fail", "reason": "invented account numbers"})
    assert check(junk_dialog(), policy="judge", caller=failing).reasons == ["judge:fail"]
    assert check(junk_dialog(), policy="judge", judge=False).reasons == ["ground:absent"], "no judge tier to ask: rejected"


def test_the_flag_policy_keeps_the_subject_and_records_the_findings() -> None:
    verdict = check(junk_dialog(), policy="flag")
    assert verdict.passed and verdict.flags == ["ground:absent"]
    assert all(f.action == "flag" for f in verdict.findings)


def test_a_grounded_dialog_passes_and_records_every_basis() -> None:
    honest = {"name": "transfer_money", "arguments": {"from_account": "AB-12", "to_account": "CD-34", "amount": 1200.0}}
    verdict = check(junk_dialog("Move one thousand two hundred euros from AB-12 to CD-34", (honest,)))
    assert verdict.passed and verdict.reasons == []
    assert [(g.path, g.basis) for g in verdict.grounding] == [
        ("from_account", "stated"),
        ("to_account", "stated"),
        ("amount", "normalised"),
    ]
