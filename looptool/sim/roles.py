"""How the simulator plays each role whose answer is structured (keyed by schema name).

Every handler answers from the request alone, consistent with the scripted world in
looptool.sim.world: plans carry goals in natural first-person English that the simulated user
turns into natural requests (never function names or JSON), both written by
looptool.sim.phrasing from structured truth and read back exactly; the judge compares answers
with the world's canonical step; EDDE samples carry labels that match their own user text. Rates
in the model profile make it err on purpose.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from looptool.sim.phrasing import render_request, render_supplement
from looptool.sim.responder import perturb_calls, schema_handler
from looptool.sim.schema_values import WORDS, value_for
from looptool.sim.settings import ModelProfile
from looptool.synth.witness import spec_satisfying
from looptool.sim.world import Turn, canonical_step, request_phases, turns_from_messages

CONTEXT_LINE = re.compile(r"^Context path:\s*(.+)$", re.MULTILINE)
SMALL_TALK = (
    "Chat about {w} plans for the weekend.",
    "Tell me something nice about {w}.",
    "Thanks so much for the help with the {w} trip!",
    "What do you think makes a good {w} name?",
)


def _tool_list(data: dict[str, Any]) -> list[dict[str, Any]]:
    tools = []
    for raw in data.get("tools") or []:
        spec = raw.get("function", raw) if isinstance(raw, dict) else None
        if isinstance(spec, dict) and isinstance(spec.get("name"), str):
            tools.append(spec)
    return tools


def _arguments(tool: dict[str, Any], rng: random.Random, *, all_params: bool = False) -> dict[str, Any]:
    parameters = tool.get("parameters") or {}
    properties = parameters.get("properties") or {}
    required = set(parameters.get("required") or [])
    out = {}
    for name, schema in properties.items():
        if name in required or all_params or rng.random() < 0.3:
            out[name] = value_for(schema, rng, hint=name)
    return out


def _call(tool: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    return {"name": tool["name"], "arguments": _arguments(tool, rng)}


# -- generator: API specs from the dual-tree prompt ---------------------------------------------
def _words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z]+", text.lower()) if len(w) > 2]


@schema_handler("api_spec")
def api_spec(payload: dict[str, Any], data: dict[str, Any], rng: random.Random, profile: ModelProfile) -> Any:
    prompt = "\n".join(m.get("content") or "" for m in payload.get("messages") or [] if isinstance(m.get("content"), str))
    context = CONTEXT_LINE.search(prompt)
    return spec_satisfying(data, words=_words(context.group(1)) if context else ["item"], rng=rng)


# -- planner ------------------------------------------------------------------------------------
@schema_handler("dialog_plan")
def dialog_plan(payload: dict[str, Any], data: dict[str, Any], rng: random.Random, profile: ModelProfile) -> Any:
    tools = _tool_list(data)
    kinds = list(data.get("kinds") or ["single"])
    requests = []
    for kind in kinds:
        with_required = [t for t in tools if (t.get("parameters") or {}).get("required")]
        if kind == "no_tool" or not tools:
            goal = rng.choice(SMALL_TALK).format(w=rng.choice(WORDS))
            requests.append({"kind": kind, "tools": [], "goal": goal, "withhold": []})
            continue
        withhold: list[str] = []
        if kind == "missing_param" and with_required:
            tool = rng.choice(with_required)
            phases = [[_call(tool, rng)]]
            withhold = [rng.choice(sorted(tool["parameters"]["required"]))]
        elif kind == "parallel":
            phases = [[_call(rng.choice(tools), rng) for _ in range(2)]]
        elif kind == "dependent":
            phases = [[_call(rng.choice(tools), rng)], [_call(rng.choice(tools), rng)]]
        else:  # single, or missing_param when no tool has a required argument to withhold
            phases = [[_call(rng.choice(tools), rng)]]
        names = [c["name"] for phase in phases for c in phase]
        goal = render_request(tools, phases, rng, goal=True)
        requests.append({"kind": kind, "tools": names, "goal": goal, "withhold": withhold})
    return {"requests": requests}


# -- user ---------------------------------------------------------------------------------------
@schema_handler("user_turn")
def user_turn(payload: dict[str, Any], data: dict[str, Any], rng: random.Random, profile: ModelProfile) -> Any:
    """Says the planned goal as a request, leaving withheld arguments out, and gives them when asked."""
    request = data.get("request") or {}
    tools = _tool_list(data)
    goal = str(request.get("goal", "Hello!"))
    withheld = set(request.get("withhold") or [])
    phases = request_phases(goal, tools) if tools else []
    if data.get("mode") == "supply":
        values: dict[str, Any] = {}
        for phase in phases:
            for call in phase:
                values.update({k: v for k, v in call["arguments"].items() if k in withheld})
        if not values:
            return {"message": "Sorry, I have nothing to add.", "finished": False}
        return {"message": render_supplement(tools, values, rng), "finished": False}
    if data.get("mode") == "new_request":
        if not phases:
            return {"message": goal, "finished": False}
        asked = [
            [{"name": c["name"], "arguments": {k: v for k, v in c["arguments"].items() if k not in withheld}} for c in phase]
            for phase in phases
        ]
        return {"message": render_request(tools, asked, rng), "finished": False}
    return {"message": "Thanks, that is all.", "finished": True}


# -- tool ---------------------------------------------------------------------------------------
@schema_handler("tool_result")
def tool_result(payload: dict[str, Any], data: dict[str, Any], rng: random.Random, profile: ModelProfile) -> Any:
    by_name = {t["name"]: t for t in _tool_list(data)}
    results = []
    for call in data.get("calls") or []:
        spec = by_name.get(call.get("name"), {})
        returns = spec.get("returns")
        if isinstance(returns, dict) and returns.get("type") == "object":
            content = value_for(returns, rng)
        else:
            content = {"result": value_for(returns, rng) if isinstance(returns, dict) else f"{rng.choice(WORDS)} ok"}
        results.append(
            {"name": call.get("name", ""), "status": "ok", "content": content if isinstance(content, dict) else {"result": content}}
        )
    return {"results": results or [{"name": "", "status": "error", "content": {"error": "no calls"}}]}


# -- judge --------------------------------------------------------------------------------------
def _canonical(data: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    tools = _tool_list(data)
    step = canonical_step(tools, turns_from_messages(data.get("conversation") or []))
    return tools, step.calls


def _same(a: Any, b: Any) -> bool:
    def norm(calls: Any) -> list[str]:
        if isinstance(calls, dict) and "text" in calls:
            return []
        return sorted(json.dumps({"name": c.get("name"), "arguments": c.get("arguments")}, sort_keys=True) for c in calls or [])

    return norm(a) == norm(b)


def _answer_ok(answer: Any, expected: list[dict[str, Any]]) -> bool:
    """A call answer must be the canonical calls; where none is due, the answer must be text."""
    if expected:
        return _same(answer, expected)
    return isinstance(answer, dict) and "text" in answer


@schema_handler("step_verdict")
def step_verdict(payload: dict[str, Any], data: dict[str, Any], rng: random.Random, profile: ModelProfile) -> Any:
    if profile.contradiction_rate and rng.random() < profile.contradiction_rate:  # the quickstart's 135M judge, verbatim
        return {"verdict": "pass", "reason": "fail"}
    _, expected = _canonical(data)
    ok = _answer_ok(data.get("answer", data.get("calls")), expected)
    if rng.random() < profile.judge_error_rate:
        ok = not ok
    if ok:
        return {"verdict": "pass", "reason": "The step does what the request needs and every value comes from the conversation."}
    if not expected:
        return {"verdict": "fail", "reason": "No call is due here: the assistant should reply in text."}
    return {"verdict": "fail", "reason": f"Expected {json.dumps(expected)[:200]}."}


@schema_handler("label_verdict")
def label_verdict(payload: dict[str, Any], data: dict[str, Any], rng: random.Random, profile: ModelProfile) -> Any:
    if profile.contradiction_rate and rng.random() < profile.contradiction_rate:
        return {"verdict": "A_CORRECT_B_WRONG", "analysis": "Answer A is wrong and answer B is correct."}
    _, expected = _canonical(data)
    a_ok = _answer_ok(data.get("A"), expected)
    b_ok = _answer_ok(data.get("B"), expected)
    verdict = {
        (True, False): "A_CORRECT_B_WRONG",
        (False, True): "B_CORRECT_A_WRONG",
        (True, True): "BOTH_CORRECT",
        (False, False): "BOTH_WRONG",
    }[(a_ok, b_ok)]
    if rng.random() < profile.judge_error_rate:
        verdict = rng.choice([v for v in ("A_CORRECT_B_WRONG", "B_CORRECT_A_WRONG", "BOTH_CORRECT", "BOTH_WRONG") if v != verdict])
    need = json.dumps(expected)[:300] if expected else "a text reply, no call"
    # The analysis argues the verdict given, even an erring one: a wrong judge is consistent with
    # itself (rules refuse self-contradicting answers; looptool.roles.answer_checks).
    a_said, b_said = {
        "A_CORRECT_B_WRONG": (True, False),
        "B_CORRECT_A_WRONG": (False, True),
        "BOTH_CORRECT": (True, True),
        "BOTH_WRONG": (False, False),
    }[verdict]
    if a_said == b_said:
        opening = "Both answers are correct" if a_said else "Both answers are wrong"
    else:
        opening = f"Answer {'A' if a_said else 'B'} is correct and answer {'B' if a_said else 'A'} is wrong"
    return {"verdict": verdict, "analysis": f"{opening}: the request needs {need}."}


# -- generator: EDDE ----------------------------------------------------------------------------
def _fresh(calls: list[dict[str, Any]], by_name: dict[str, dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    """The same calls with new values for the same arguments (the seed's difficulty, new data)."""
    out = []
    for call in calls:
        spec = by_name.get(call.get("name"))
        arguments = dict(call.get("arguments") or {})
        if spec is not None:
            fresh = _arguments(spec, rng, all_params=True)
            arguments = {k: fresh.get(k, v) for k, v in arguments.items()}
        out.append({"name": call.get("name"), "arguments": arguments})
    return out


def _simulated_results(calls: list[dict[str, Any]], rng: random.Random) -> list[dict[str, Any]]:
    return [
        {"role": "tool", "name": c["name"], "content": json.dumps({"result": f"{rng.choice(WORDS)} {rng.randint(1, 99)}"})} for c in calls
    ]


def _call_variant(
    tools: list[dict[str, Any]], seed_turns: list[Turn], correct: list[dict[str, Any]], rng: random.Random, profile: ModelProfile
) -> dict[str, Any]:
    by_name = {t["name"]: t for t in tools}
    calls = _fresh(correct, by_name, rng)
    noisy = rng.random() < profile.wrong_call_rate
    asked = perturb_calls(calls, tools, rng) if noisy else calls  # noise: the user text and the label disagree
    earlier = next((t for t in reversed(seed_turns) if t.role == "assistant" and t.calls), None)
    if seed_turns and seed_turns[-1].role == "tool" and earlier is not None:
        # The seed continues a multi-step request: mirror it (first phase made and answered).
        first = _fresh(earlier.calls, by_name, rng)
        history = [
            {"role": "user", "content": render_request(tools, [first, asked], rng)},
            {"role": "assistant", "content": "", "tool_calls": first},
            *_simulated_results(first, rng),
        ]
        return {"history": history, "user": "", "calls": calls, "reply": ""}
    return {"history": [], "user": render_request(tools, [asked], rng), "calls": calls, "reply": ""}


def _text_variant(tools: list[dict[str, Any]], kind: str, rng: random.Random) -> dict[str, Any]:
    with_required = [t for t in tools if (t.get("parameters") or {}).get("required")]
    if kind == "ask" and with_required:
        tool = rng.choice(with_required)
        call = {"name": tool["name"], "arguments": _arguments(tool, rng)}
        call["arguments"].pop(rng.choice(sorted(tool["parameters"]["required"])), None)
        user = render_request(tools, [[call]], rng)
    else:
        user = rng.choice(SMALL_TALK).format(w=rng.choice(WORDS))
    reply = canonical_step(tools, [Turn("user", user)]).text
    return {"history": [], "user": user, "calls": [], "reply": reply}


@schema_handler("expanded_samples")
def expanded_samples(payload: dict[str, Any], data: dict[str, Any], rng: random.Random, profile: ModelProfile) -> Any:
    tools = _tool_list(data)
    kind = str(data.get("answer_kind") or "call")
    correct = data.get("correct")
    seed_turns = turns_from_messages(data.get("conversation") or [])
    scenarios = list(data.get("scenarios") or [])
    samples = []
    for index in range(int(data.get("k") or 1)):
        if kind == "call" and isinstance(correct, list) and correct and tools:
            sample = _call_variant(tools, seed_turns, correct, rng, profile)
        else:
            sample = _text_variant(tools, kind, rng)
        scenario = scenarios[index] if index < len(scenarios) else f"variation {index + 1}"
        samples.append({"scenario": f"{scenario} ({rng.choice(WORDS)} setting)", **sample})
    return {"samples": samples}
