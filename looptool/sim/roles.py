"""How the simulator plays each role whose answer is structured (keyed by schema name).

Every handler answers from the request alone, consistent with the scripted world in
looptool.sim.world: plans are written in the request language the simulated assistant
understands, the judge compares answers with the world's canonical step, EDDE samples carry calls
that match their own user text. Rates in the model profile make it err on purpose.
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from looptool.sim.responder import perturb_calls, schema_handler
from looptool.sim.schema_values import WORDS, value_for
from looptool.sim.settings import ModelProfile
from looptool.synth.witness import spec_satisfying
from looptool.sim.world import canonical_step, request_phases, turns_from_messages

CONTEXT_LINE = re.compile(r"^Context path:\s*(.+)$", re.MULTILINE)


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


def _call_text(name: str, arguments: dict[str, Any]) -> str:
    return f"call {name} with {json.dumps(arguments, ensure_ascii=False)}"


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
            requests.append({"kind": kind, "tools": [], "goal": f"Chat about {rng.choice(WORDS)} plans for the weekend.", "withhold": []})
        elif kind == "missing_param" and with_required:
            tool = rng.choice(with_required)
            arguments = _arguments(tool, rng)
            withheld = [rng.choice(sorted(tool["parameters"]["required"]))]
            requests.append({"kind": kind, "tools": [tool["name"]], "goal": f"Please {_call_text(tool['name'], arguments)}.", "withhold": withheld})
        elif kind == "parallel":
            chosen = [rng.choice(tools) for _ in range(2)]
            goal = " and ".join(_call_text(t["name"], _arguments(t, rng)) for t in chosen)
            requests.append({"kind": kind, "tools": [t["name"] for t in chosen], "goal": f"Please {goal}.", "withhold": []})
        elif kind == "dependent" and len(tools) >= 1:
            first, second = rng.choice(tools), rng.choice(tools)
            goal = f"First {_call_text(first['name'], _arguments(first, rng))}. After that, {_call_text(second['name'], _arguments(second, rng))}."
            requests.append({"kind": kind, "tools": [first["name"], second["name"]], "goal": goal, "withhold": []})
        else:
            tool = rng.choice(tools)
            # single, or missing_param when no tool has a required argument to withhold
            requests.append({"kind": kind, "tools": [tool["name"]], "goal": f"Please {_call_text(tool['name'], _arguments(tool, rng))}.", "withhold": []})
    return {"requests": requests}


# -- user ---------------------------------------------------------------------------------------
def _without(goal: str, withheld: list[str]) -> str:
    phases = request_phases(goal)
    if not phases or not withheld:
        return goal
    parts = []
    for phase in phases:
        calls = [_call_text(c["name"], {k: v for k, v in c["arguments"].items() if k not in withheld}) for c in phase]
        parts.append(" and ".join(calls))
    return "Please " + ". After that, ".join(parts) + "."


@schema_handler("user_turn")
def user_turn(payload: dict[str, Any], data: dict[str, Any], rng: random.Random, profile: ModelProfile) -> Any:
    request = data.get("request") or {}
    goal = str(request.get("goal", "Hello!"))
    withheld = list(request.get("withhold") or [])
    if data.get("mode") == "supply":
        values = {}
        for phase in request_phases(goal):
            for call in phase:
                values.update({k: v for k, v in call["arguments"].items() if k in withheld})
        return {"message": f"Sorry, I forgot. Use {json.dumps(values, ensure_ascii=False)}.", "finished": False}
    if data.get("mode") == "new_request":
        return {"message": _without(goal, withheld), "finished": False}
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
        results.append({"name": call.get("name", ""), "status": "ok", "content": content if isinstance(content, dict) else {"result": content}})
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


@schema_handler("step_verdict")
def step_verdict(payload: dict[str, Any], data: dict[str, Any], rng: random.Random, profile: ModelProfile) -> Any:
    _, expected = _canonical(data)
    ok = _same(data.get("calls"), expected)
    if rng.random() < profile.judge_error_rate:
        ok = not ok
    if ok:
        return {"verdict": "pass", "reason": "The calls match the request and every value comes from the conversation."}
    return {"verdict": "fail", "reason": f"Expected {json.dumps(expected)[:200]}."}


@schema_handler("label_verdict")
def label_verdict(payload: dict[str, Any], data: dict[str, Any], rng: random.Random, profile: ModelProfile) -> Any:
    _, expected = _canonical(data)
    a_ok = _same(data.get("A"), expected) if expected else isinstance(data.get("A"), dict)
    b_ok = _same(data.get("B"), expected) if expected else isinstance(data.get("B"), dict)
    verdict = {(True, False): "A_CORRECT_B_WRONG", (False, True): "B_CORRECT_A_WRONG", (True, True): "BOTH_CORRECT", (False, False): "BOTH_WRONG"}[(a_ok, b_ok)]
    if rng.random() < profile.judge_error_rate:
        verdict = rng.choice([v for v in ("A_CORRECT_B_WRONG", "B_CORRECT_A_WRONG", "BOTH_CORRECT", "BOTH_WRONG") if v != verdict])
    return {"verdict": verdict, "analysis": f"The request needs {json.dumps(expected)[:300]}."}


# -- generator: EDDE ----------------------------------------------------------------------------
@schema_handler("expanded_samples")
def expanded_samples(payload: dict[str, Any], data: dict[str, Any], rng: random.Random, profile: ModelProfile) -> Any:
    tools = _tool_list(data)
    correct = data.get("correct") or []
    if not isinstance(correct, list) or not correct:
        correct = [{"name": tools[0]["name"], "arguments": _arguments(tools[0], rng)}] if tools else []
    samples = []
    for index in range(int(data.get("k") or 1)):
        calls = json.loads(json.dumps(correct))
        by_name = {t["name"]: t for t in tools}
        for call in calls:
            spec = by_name.get(call.get("name"))
            if spec is not None:
                fresh = _arguments(spec, rng)
                call["arguments"] = {k: fresh.get(k, v) for k, v in call.get("arguments", {}).items()}
        if calls and rng.random() < profile.wrong_call_rate:
            user_calls = perturb_calls(calls, tools, rng)  # the user text and the label disagree
        else:
            user_calls = calls
        user = "Please " + " and ".join(_call_text(c["name"], c["arguments"]) for c in user_calls) + "."
        samples.append({"scenario": f"variation {index + 1}: {rng.choice(WORDS)} setting", "history": [], "user": user, "calls": calls})
    return {"samples": samples}
