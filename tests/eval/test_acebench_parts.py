"""ACEBench's parts one rule at a time: decoding without eval, the two checkers, the executor's
allow-list, prompts and tool names, the data loader, Table 2 aggregation, step-keyed oracle rows.
(The official decisions on ~94k answers are held in test_acebench_golden.py.)"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from pathlib import Path

import pytest

from looptool.errors import InputError
from looptool.eval.acebench_categories import CATEGORIES, NORMAL, category_of, dialog_of, resolve_categories
from looptool.eval.acebench_check import (
    check_agent_state,
    check_calls,
    check_normal_text,
    check_special,
    process_accuracy,
    strict_agent_state,
    strict_calls,
    strict_normal_text,
    strict_special,
)
from looptool.eval.acebench_data import SHIPPED_DIR, load_items
from looptool.eval.acebench_decode import DecodeError, decode_answer, decode_execution, outermost_brackets
from looptool.eval.acebench_execution import STEP_DECODE_FAILURE, Executor
from looptool.eval.acebench_format import WireNames, item_request, native_tools, prompt
from looptool.eval.acebench_scoreboard import CategoryScore, headline, render_markdown, summarize, table

DOC = {
    "name": "book",
    "description": "Book.",
    "parameters": {
        "type": "object",
        "required": ["city"],
        "properties": {
            "city": {"type": "string"},
            "nights": {"type": "integer"},
            "rate": {"type": "number"},
            "vip": {"type": "boolean"},
            "tags": {"type": "array", "items": {"type": "string"}},
            "guest": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
    },
}
TRUTH = {"book": {"city": "New York", "nights": 3, "vip": True, "tags": ["quiet", "high floor"], "guest": {"name": "Ann Lee"}}}


# -- decoding ---------------------------------------------------------------------------------


def test_model_text_is_never_evaluated(tmp_path: Path):
    marker = tmp_path / "pwned"
    attacks = (
        f"[f(a=__import__('os').system('touch {marker}'))]",
        f"[f(a=open('{marker}', 'w'))]",
        f"[f(a=(lambda: open('{marker}', 'w'))())]",
        "[f(a=[x for x in ().__class__.__base__.__subclasses__()])]",
        f"[__import__('os').system('touch {marker}')]",
        f"[send_message(message=open('{marker}', 'w').write('x'))]",
    )
    executor = Executor({}, ["BaseApi", "MessageApi"], "en", "multi_step")
    for text in attacks:
        for decode in (decode_answer, lambda t: decode_execution(t, non_call="raise")):
            try:
                decoded = decode(text)
            except DecodeError:
                continue
            # What does decode is inert data: names and source text, nothing that ran.
            assert all(isinstance(name, str) for call in decoded for name in call)
        executor.respond(text)
    assert not marker.exists()
    assert decode_answer("[f(a=__import__('os').getcwd())]") == [{"f": {"a": {"getcwd": {}}}}]
    assert decode_execution("[f(a=__import__('os').getcwd())]", non_call="raise") == [{"f": {"a": "__import__('os').getcwd()"}}]


def test_arithmetic_is_computed_like_python_but_bounded():
    assert decode_answer("[f(a=2*3+1, b='x'*2, c=7/2)]") == [{"f": {"a": 7, "b": "xx", "c": 3.5}}]
    started = time.monotonic()
    for text in ("[f(a=10**10**10)]", "[f(a='x'*10**9)]", "[f(a=1<<10**9)]", "[f(a=1/0)]"):
        with pytest.raises(DecodeError):
            decode_answer(text)
    assert time.monotonic() - started < 1.0


def test_acebench_decoding_quirks_are_reproduced():
    assert decode_answer("[f(a=+5, b=not 1, c=-2)]") == [{"f": {"a": -5, "b": -1, "c": -2}}]  # ACEBench negates any unary op
    assert decode_answer("[f(a=true, b=x[0], c=g(), d=dict(k=1))]") == [
        {"f": {"a": "true", "b": "x[0]", "c": {"g": {}}, "d": {"dict": {"k": 1}}}}
    ]
    assert decode_answer("[a.b.f(1, k=2)]") == [{"a.b.f": {"k": 2}}]  # positional arguments dropped
    assert decode_answer("[f(k=(1, 2))]") == [{"f": {"k": (1, 2)}}]
    for bad in ("f(a=1)", "[f(a=1), 'x']", "[f(a={1, 2})]", "[f(a=f'{x}')]", "[f(a=-x)]", None):
        with pytest.raises(DecodeError):
            decode_answer(bad)
    assert outermost_brackets("Sure: [f(a=[1])] and [g()]") == "[f(a=[1])]"
    assert outermost_brackets("no call") is None


def test_execution_decoding_adds_brackets_and_treats_non_calls_by_variant():
    assert decode_execution("f(a=1)", non_call="raise") == [{"f": {"a": 1}}]
    assert decode_execution(" [f(), g(b='x')]", non_call="raise") == [{"f": {}}, {"g": {"b": "x"}}]
    assert decode_execution("[hello]", non_call="raise") == []  # a bare name: nothing to execute
    assert decode_execution("[f(x=now())]", non_call="raise") == [{"f": {"x": "now()"}}]  # nested call as its text
    with pytest.raises(DecodeError):
        decode_execution("[f(), 3]", non_call="raise")
    assert decode_execution("[f(), 3]", non_call="skip") == [{"f": {}}]
    assert decode_execution("[f(), 3]", non_call="reject") is None
    with pytest.raises(DecodeError):
        decode_execution("[f(a='it's')]", non_call="skip")  # ACEBench's own milestones break like this


# -- the two checkers ---------------------------------------------------------------------------


def call(**arguments) -> list[dict]:
    return [
        {"book": {"city": "New York", "nights": 3, "vip": True, "tags": ["quiet", "high floor"], "guest": {"name": "Ann Lee"}, **arguments}}
    ]


def test_acebench_mode_keeps_the_official_leniencies_strict_mode_does_not():
    lenient = {
        "number not compared": call(nights=30),
        "bool not compared": call(vip=False),
        "string contains the truth": call(city="New York City, please"),
        "string standardised": call(city="new-york"),
        "optional truth parameter left out": [{"book": {"city": "New York"}}],
        "object leaf contains the truth": call(guest={"name": "Ann Lee Jr."}),
    }
    for label, calls in lenient.items():
        assert check_calls([DOC], calls, TRUTH, "normal_atom_number").valid, label
        assert not strict_calls([DOC], calls, TRUTH).valid, label
    assert check_calls([DOC], call(), TRUTH, "normal_atom_number").valid and strict_calls([DOC], call(), TRUTH).valid
    for label, calls in {
        "list order": call(tags=["high floor", "quiet"]),
        "required missing": [{"book": {"nights": 3}}],
        "extra parameter": call(extra=1),
        "wrong type": call(nights="3"),
        "string lacks the truth": call(city="York"),
    }.items():
        assert not check_calls([DOC], calls, TRUTH, "normal_atom_number").valid, label
        assert not strict_calls([DOC], calls, TRUTH).valid, label
    # Agent categories compare strings exactly.
    assert not check_calls([DOC], call(city="New York City"), TRUTH, "agent_multi_step").valid


def test_multi_turn_answers_lose_their_whitespace_as_in_eval_main():
    text = "[book(city='New York', guest={'name': 'Ann Lee', 'wishes': ['high floor']})]"
    truth = {"book": {"city": "New York", "guest": {"name": "Ann Lee", "wishes": ["high floor"]}}}
    assert check_normal_text([DOC], text, truth, "normal_single_turn_single_function").valid
    verdict = check_normal_text([DOC], text, truth, "normal_multi_turn_user_adjust")
    # Strings are standardised (spaces dropped on both sides), but a list inside an object is
    # compared as str(): "['high floor']" is not in "['highfloor']" once the answer lost its spaces.
    assert not verdict.valid and verdict.error_type == "value_error"
    assert check_normal_text(
        [DOC],
        text.replace(", 'wishes': ['high floor']", ""),
        {"book": {"city": "New York", "guest": {"name": "Ann Lee"}}},
        "normal_multi_turn_user_adjust",
    ).valid
    assert strict_normal_text([DOC], text, truth).valid
    assert not check_normal_text(
        [DOC], "Calls: [book(city='New York')]", {"book": {"city": "New York"}}, "normal_multi_turn_user_adjust"
    ).valid


def test_parallel_calls_are_matched_by_name_with_the_repeat_suffix():
    truth = {"book_1": {"city": "Paris"}, "book_2": {"city": "Rome"}}
    calls = [{"book": {"city": "Rome"}}, {"book": {"city": "Paris"}}]
    assert check_calls([DOC], calls, truth, "normal_single_turn_parallel_function").valid
    assert strict_calls([DOC], calls, truth).valid
    assert not check_calls([DOC], calls[:1], truth, "normal_single_turn_parallel_function").valid
    # Any of several ground-truth alternatives will do.
    assert check_calls(
        [DOC], [{"book": {"city": "Oslo"}}], [{"book": {"city": "Rome"}}, {"book": {"city": "Oslo"}}], "normal_atom_bool"
    ).valid


def test_special_phrases_substrings_in_acebench_mode_exact_in_strict_mode():
    truth = {"RealEstate": ["propertyDetails ", " rentalManagement"]}
    official_text = '["Missing necessary parameters (propertyDetails ,  rentalManagement) for the api (RealEstate)"]'
    assert check_special(official_text, truth, "special_incomplete").valid
    assert strict_special(official_text, False, truth, "special_incomplete").valid
    tidy = '["Missing necessary parameters (propertyDetails, rentalManagement) for the api (RealEstate)"]'
    assert not check_special(tidy, truth, "special_incomplete").valid  # the stray spaces are looked for
    assert strict_special(tidy, False, truth, "special_incomplete").valid
    extra = '["Missing necessary parameters (propertyDetails, rentalManagement, price) for the api (RealEstate)"]'
    assert not strict_special(extra, False, truth, "special_incomplete").valid
    assert not strict_special(tidy, True, truth, "special_incomplete").valid  # a call is never the answer
    assert check_special("Sorry: due to the limitations of the function ...", "x", "special_irrelevant").valid
    assert not strict_special("Sorry: due to the limitations of the function ...", False, "x", "special_irrelevant").valid
    error = {"year": ["201x"]}
    sentence = "There is incorrect value (201x) for the parameters (year) in the conversation history."
    assert (
        check_special(sentence, error, "special_error_param").valid and strict_special(sentence, False, error, "special_error_param").valid
    )
    assert not strict_special(sentence.replace("(year)", "(month)"), False, error, "special_error_param").valid
    assert check_special(sentence.replace("(year)", "(month)"), error, "special_error_param").valid  # ACEBench ignores the name


def test_agent_state_checks():
    truth = [{"BaseApi": {"wifi": True}}, {"ReminderAPI": {"reminder_list": {"1": {"t": 1}}}}, {"MessageApi": {"inbox": {"1": {"m": "a"}}}}]
    state = [
        {"BaseApi": {"wifi": True}},
        {"ReminderApi": {"reminder_list": {"1": {"t": 2}}}},
        {"MessageApi": {"inbox": {"1": {"m": "a"}, "2": {"m": "b"}}}},
    ]
    assert check_agent_state(state, truth).valid  # misspelt class skipped, extra inbox key unseen
    strict = strict_agent_state(state, truth)
    assert not strict.valid and "ReminderAPI" in strict.error and "MessageApi" in strict.error
    assert not check_agent_state(state[:2], truth).valid
    assert not check_agent_state([{"BaseApi": {"wifi": False}}, *state[1:]], truth).valid
    assert process_accuracy(["[a()]", "[x()]", " [b()] "], ["[a()]", "[b()]", "[c()]"]) == pytest.approx(0.667)
    assert process_accuracy(["[b()]"], [["[a()]"], ["[b()]"]]) == 1.0


# -- execution on the backends --------------------------------------------------------------------


def test_only_allow_listed_methods_run_and_shared_methods_run_on_every_instance():
    executor = Executor({"BaseApi": {"wifi": False, "logged_in": False}}, ["BaseApi", "MessageApi", "FoodPlatform"], "en", "multi_step")
    reply = executor.respond("[_load_scenario(scenario='x'), __init__(language='en'), __class__()]")
    assert executor.instances["BaseApi"].wifi is False and all("Error during execution" in str(m) for m in reply.message)
    executor.respond("[turn_on_wifi()]")
    assert all(instance.wifi for instance in executor.instances.values())
    zh_only = executor.respond("[mark_as_notified(reminder_id=1)]")  # a Chinese-version method
    assert "Error during execution" in str(zh_only.message)
    assert executor.respond("not a call").message == STEP_DECODE_FAILURE
    state = executor.final_state()
    assert [next(iter(s)) for s in state] == ["BaseApi", "MessageApi", "FoodPlatform"] and "1" in state[1]["MessageApi"]["inbox"]


def test_multi_turn_messages_that_do_not_decode_go_to_the_user_and_report_nothing():
    executor = Executor({}, ["Travel"], "en", "multi_turn")
    assert not executor.routes_to_execution("Which city?")
    assert not executor.routes_to_execution("[get_flight_details(origin='Beijing')] ")  # ACEBench's trailing-space milestones
    assert executor.final_state() == []
    failed = executor.respond(
        "[reserve_flight(user_id='user1', password='password123', flight_no='XX', cabin='Economy Class', payment_method='bank', baggage_count=1)]"
    )
    assert not failed.executed and executor.final_state() == []  # an execution error reports no state in multi_turn
    executor.respond("[get_flight_details(origin='Beijing', destination='Shanghai')]")
    assert executor.final_state()[0]["Travel"]["reservations"][0]["reservation_id"] == "res_1"


# -- prompts, tools, data -----------------------------------------------------------------------


def test_every_prompt_section_exists_in_both_languages():
    for file, names in {
        "acebench_normal.md": ["normal", "preference", "special", "question", "native_normal", "native_preference", "native_special"],
        "acebench_agent.md": ["step", "turn", "history", "rules_phone", "rules_travel", "native_step", "native_turn"],
        "acebench_user.md": ["phone", "travel", "message", "opening"],
    }.items():
        for name in names:
            for language in ("en", "zh"):
                text = prompt(
                    file,
                    name,
                    language,
                    functions="F",
                    time="T",
                    profile="P",
                    question="Q",
                    history="H",
                    rules="R",
                    instruction="I",
                    transcript="X",
                )
                assert text.strip(), (file, name, language)
    special = prompt("acebench_normal.md", "special", "zh", functions="", time="")
    for phrase in (
        "Missing necessary parameters",
        "There is incorrect value",
        "Due to the limitations of the function, I cannot solve this problem.",
    ):
        assert phrase in special  # the checker looks for the English phrases in both languages


def test_native_tool_names_follow_openai_and_map_back():
    docs = [
        {"name": "智能营销策略制定工具", "parameters": {"type": "dict", "properties": {}}},
        {"name": "x" * 70},
        {"name": "ok_name", "parameters": {"type": "object", "properties": {"a": {"type": "dict"}}, "required": ["b"]}},
    ]
    names = WireNames.build(docs)
    tools = native_tools(docs, names)
    wires = [t["function"]["name"] for t in tools]
    assert all(len(w) <= 64 and w.replace("_", "").replace("-", "").isalnum() and w.isascii() for w in wires)
    assert len(set(wires)) == 3 and wires[2] == "ok_name"
    assert [names.original(w) for w in wires] == [d["name"] for d in docs]
    assert (
        tools[0]["function"]["parameters"]["type"] == "object" and tools[2]["function"]["parameters"]["properties"]["a"]["type"] == "object"
    )


def test_both_formats_send_the_same_conversation():
    item = load_items(["normal_preference"], "en", limit=1)[0]
    ace, _ = item_request(item, "acebench", max_tokens=None, temperature=0.0, cache_salt=None)
    native, _ = item_request(item, "native", max_tokens=None, temperature=0.0, cache_salt=None)
    assert ace.messages[1] == native.messages[1] and item.question in ace.messages[1]["content"]
    assert item.profile.strip() in ace.messages[0]["content"] and item.profile.strip() in native.messages[0]["content"]
    assert ace.tools is None and native.tools and "[ApiName(" in ace.messages[0]["content"]


def test_shipped_data_is_acebench_byte_for_byte_and_counts_match():
    source = json.loads((SHIPPED_DIR / "SOURCE.json").read_text())
    assert source["commit"] == "56dd66cf6439b0d9655ee1b353e4cd745c6f664e"
    for relative, digest in source["sha256"].items():
        assert hashlib.sha256((SHIPPED_DIR / relative).read_bytes()).hexdigest() == digest, relative
    assert len(load_items(language="en")) == 1023 and len(load_items(language="zh")) == 1017
    assert len(load_items(["normal_multi_turn_user_adjust"], "en", limit=2)) == 4  # limit counts dialogs: 2 + 2 turns


def test_another_data_copy_can_be_named_and_bad_copies_fail_clearly(tmp_path: Path):
    copy = tmp_path / "data_all"
    shutil.copytree(SHIPPED_DIR / "data_en", copy / "data_en")
    assert len(load_items(["special_irrelevant"], "en", data_dir=copy)) == 50
    answers = copy / "data_en" / "possible_answer" / "data_special_irrelevant.json"
    lines = answers.read_text().splitlines()
    answers.write_text("\n".join(lines[1:] + lines[:1]) + "\n")
    load_items.__globals__["_load_category"].cache_clear()
    with pytest.raises(InputError, match="ids differ"):
        load_items(["special_irrelevant"], "en", data_dir=copy)
    answers.write_text("{broken\n")
    load_items.__globals__["_load_category"].cache_clear()
    with pytest.raises(InputError, match=r"data_special_irrelevant.json:1: not JSON"):
        load_items(["special_irrelevant"], "en", data_dir=copy)
    with pytest.raises(InputError, match="not an ACEBench data folder"):
        load_items(["special_irrelevant"], "en", data_dir=tmp_path)


def test_categories_groups_and_ids():
    assert resolve_categories(["atom_bool", "special"]) == [
        "normal_atom_bool",
        "special_incomplete",
        "special_error_param",
        "special_irrelevant",
    ]
    assert resolve_categories(["all"]) == list(CATEGORIES)
    with pytest.raises(ValueError, match="simple_python"):
        resolve_categories(["simple_python"])
    assert category_of("normal_multi_turn_user_adjust_3_1") == "normal_multi_turn_user_adjust"
    assert dialog_of("normal_multi_turn_user_adjust_3_1") == "normal_multi_turn_user_adjust_3"
    assert dialog_of("normal_atom_bool_3") == "normal_atom_bool_3"


# -- Table 2 ---------------------------------------------------------------------------------------


def test_table2_follows_acebench_formulas():
    accuracies = {c: (i % 5) / 4 for i, c in enumerate(CATEGORIES)}
    scores = {c: CategoryScore(c, correct=int(a * 4), total=4, scored=4) for c, a in accuracies.items()}
    values, missing = table(scores)
    mean = lambda names: sum(accuracies[n] for n in names) / len(names)  # noqa: E731
    assert values["atom"] == pytest.approx(mean([c for c in CATEGORIES if "atom" in c]))
    assert values["normal"] == pytest.approx(mean(NORMAL))  # the twelve categories, not the five columns
    assert values["overall"] == pytest.approx(0.578 * values["normal"] + 0.2676 * values["special"] + 0.1545 * values["agent"])
    assert missing == {}
    values, missing = table({c: s for c, s in scores.items() if c != "agent_multi_turn"})
    assert values["overall"] is not None and missing["agent"] == ["agent_multi_turn"]
    values, _ = table({c: s for c, s in scores.items() if not c.startswith("agent")})
    assert values["overall"] is None


def test_multi_turn_dialogs_count_once_and_only_when_every_turn_is_right():
    items = [
        ("normal_multi_turn_user_adjust_0_0", "normal_multi_turn_user_adjust"),
        ("normal_multi_turn_user_adjust_0_1", "normal_multi_turn_user_adjust"),
        ("normal_multi_turn_user_adjust_1_0", "normal_multi_turn_user_adjust"),
        ("agent_multi_step_0", "agent_multi_step"),
    ]
    verdict = lambda ok: {"acebench": {"valid": ok}, "strict": {"valid": ok}}  # noqa: E731
    records = {
        "normal_multi_turn_user_adjust_0_0": verdict(True),
        "normal_multi_turn_user_adjust_0_1": verdict(False),
        "normal_multi_turn_user_adjust_1_0": verdict(True),
        "agent_multi_step_0": {**verdict(False), "process_accuracy": 0.5},
    }
    summary = summarize(items, records)
    row = summary["modes"]["acebench"]["categories"]["normal_multi_turn_user_adjust"]
    assert (row["correct"], row["total"], row["process_accuracy"]) == (1, 2, 0.75)
    assert summary["modes"]["acebench"]["categories"]["agent_multi_step"]["process_accuracy"] == 0.5
    del records["normal_multi_turn_user_adjust_1_0"]
    summary = summarize(items, records)
    assert summary["incomplete_categories"] == ["normal_multi_turn_user_adjust"]
    text = render_markdown(summary, "t")
    assert "only 1 scored" in text and "| strict |" in text
    assert set(headline(summary)) >= {"overall", "normal", "strict_overall", "strict_agent"}


# -- the simulator's step-keyed oracle rows ---------------------------------------------------------


def test_oracle_rows_can_answer_steps_after_the_last_user_message(tmp_path: Path):
    import random

    from looptool.sim.oracle import TURN_DONE_TEXT, OracleRow, oracle_message
    from looptool.sim.settings import SimSettings

    table_path = tmp_path / "t.jsonl"
    rows = [
        OracleRow(user=["go"], tools=["f"], calls=[{"name": "f", "arguments": {"n": 1}}]),
        OracleRow(user=["go"], tools=["f"], calls=[{"name": "f", "arguments": {"n": 2}}], step=1),
    ]
    table_path.write_text("".join(r.model_dump_json() + "\n" for r in rows))
    settings = SimSettings(oracle_path=str(table_path))
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {}}}}]
    history = [{"role": "user", "content": "go"}]
    made = {
        "role": "assistant",
        "content": None,
        "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
    }
    answers = []
    for messages in (
        history,
        history + [made, {"role": "tool", "tool_call_id": "c", "content": "ok"}],
        history + [made, {"role": "tool", "tool_call_id": "c", "content": "ok"}] * 2,
    ):
        message, _ = oracle_message({"messages": messages, "tools": tools}, settings, random.Random(0))
        answers.append(json.loads(message["tool_calls"][0]["function"]["arguments"]) if message.get("tool_calls") else message["content"])
    assert answers == [{"n": 1}, {"n": 2}, TURN_DONE_TEXT]


def test_the_loop_config_embeds_acebench_settings():
    from pydantic import ValidationError

    from looptool.loop.config import LoopSettings

    loop = LoopSettings.model_validate(
        {"eval": {"acebench_each_iteration": True, "acebench": {"language": "zh", "categories": ["atom", "agent"]}}}
    )
    assert loop.eval.acebench_each_iteration and loop.eval.acebench.language == "zh"
    assert loop.eval.acebench.categories[0] == "normal_atom_bool" and loop.eval.acebench.categories[-1] == "agent_multi_turn"
    assert not LoopSettings().eval.acebench_each_iteration
    with pytest.raises(ValidationError, match="unknown ACEBench category 'atoms'"):
        LoopSettings.model_validate({"eval": {"acebench": {"categories": ["atoms"]}}})
    with pytest.raises(ValidationError, match="format"):
        LoopSettings.model_validate({"eval": {"acebench": {"format": "paper"}}})
