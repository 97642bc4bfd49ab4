"""Dialog simulation (paper §3.2): Planner, User, Assistant and Tool agents over a tool subset.

Each dialog is one async unit; thousands run at once, bounded only by the endpoints' limits. The
assistant's calls are checked by rules as they happen (the rule tier): a dialog stops at the first
step that breaks a rule and is stored with that reason, so no later call is built on a bad one and
the verification stage can report it. Every assistant step is recorded with what the plan
expected there (a call, a question for a withheld argument, a no_tool reply), so verification can
check the plan against what the assistant did. Tool results come from an executable backend when
one is registered for the tool, otherwise from the tool agent.
"""

from __future__ import annotations

import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from looptool.errors import LoopToolError, StageError
from looptool.roles.caller import OutputInvalid, RoleCaller
from looptool.roles.schemas import plan_schema_for, tool_result_schema_for
from looptool.synth.backends import BackendRegistry
from looptool.synth.config import DialogSettings
from looptool.stages import Stage, StageContext, StageOutcome
from looptool.store import JsonlWriter, iter_jsonl
from looptool.synth import keys, pool
from looptool.synth.structure import NO_ANSWER
from looptool.tools.parse import ParseResult
from looptool.tools.render import render_openai_messages
from looptool.tools.validate import validate_call
from looptool.units import run_units

STAGE = keys.DIALOGS
KINDS = ("single", "parallel", "dependent", "missing_param", "no_tool")


class DialogAbandoned(LoopToolError):
    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason
        super().__init__(f"{reason}: {detail}")


def random_day(rng: random.Random) -> str:
    day = date(2024, 1, 1) + timedelta(days=rng.randrange(365 * 3))
    return f"{day.isoformat()}, {day.strftime('%A')}"


@dataclass
class DialogPlanInput:
    domain: str
    entries: list[dict[str, Any]]
    kinds: list[str]
    current_time: str


def draw_dialog(dialog_id: str, seed: int, groups: dict[str, list[dict[str, Any]]], settings: DialogSettings) -> DialogPlanInput:
    """Tool subset (no duplicates), request kinds and date for one dialog, from its own RNG."""
    rng = random.Random(f"{seed}|{dialog_id}")
    domains = sorted(groups)
    if settings.mix_domains:
        everything = [e for d in domains for e in groups[d]]
        domain = "mixed"
        candidates = everything
    else:
        weights = [len(groups[d]) for d in domains]
        domain = rng.choices(domains, weights=weights)[0]
        candidates = groups[domain]
    low, high = settings.tools_per_dialog
    count = min(len(candidates), rng.randint(low, high))
    entries = rng.sample(candidates, count)
    kinds = [k for k in KINDS if settings.kind_weights.get(k, 0) > 0]
    weights = [settings.kind_weights[k] for k in kinds]
    n_requests = rng.randint(*settings.requests_per_dialog)
    return DialogPlanInput(domain, entries, rng.choices(kinds, weights=weights, k=n_requests), random_day(rng))


def transcript(messages: list[dict[str, Any]]) -> str:
    lines = []
    for message in messages:
        role = message["role"]
        if role == "tool":
            lines.append(f"tool {message.get('name', '')} returned: {message['content']}")
        elif role == "assistant" and message.get("tool_calls"):
            calls = "; ".join(f"{c['name']}({json.dumps(c['arguments'], ensure_ascii=False)})" for c in message["tool_calls"])
            lines.append(f"assistant called: {calls}")
        else:
            lines.append(f"{role}: {message.get('content', '')}")
    return "\n".join(lines) or "(no messages yet)"


def step_expectation(request: dict[str, Any], fresh_user_turn: bool, supplied: bool) -> str | None:
    """What the plan says the next assistant step must be: right after a user turn, a call, a
    question for the withheld argument, or a text reply to a no_tool request; after tool results,
    either (the next call of a multi-step request, or the closing summary)."""
    if not fresh_user_turn:
        return None
    if request.get("kind") == "no_tool":
        return "no_tool"
    return "call" if supplied else "ask"


class DialogSimulator:
    def __init__(self, caller: RoleCaller, settings: DialogSettings, backends: BackendRegistry | None = None) -> None:
        self.caller = caller
        self.settings = settings
        self.backends = backends or BackendRegistry()

    async def plan(self, draw: DialogPlanInput) -> list[dict[str, Any]]:
        specs = [e["spec"] for e in draw.entries]
        answer = await self.caller.call(
            "planner",
            "plan",
            {
                "n_requests": len(draw.kinds),
                "kinds": ", ".join(draw.kinds),
                "current_time": draw.current_time,
                "input_json": json.dumps({"tools": specs, "n_requests": len(draw.kinds), "kinds": draw.kinds}, ensure_ascii=False),
            },
            schema=plan_schema_for(
                [s["name"] for s in specs], draw.kinds, [p for s in specs for p in (s.get("parameters") or {}).get("required", [])]
            ),
        )
        requests = answer.value["requests"]
        names = {s["name"] for s in specs}
        for request in requests:
            unknown = [t for t in request["tools"] if t not in names]
            if unknown:
                raise DialogAbandoned("plan_unknown_tool", f"plan uses {unknown}, not in the dialog's tools")
        return requests

    async def user_turn(
        self, draw: DialogPlanInput, messages: list[dict[str, Any]], request: dict[str, Any], mode: str, instruction: str
    ) -> str:
        # The user sees what the assistant can do (all of the dialog's tools, as the assistant
        # sees them), so a request can be phrased naturally; the prompt forbids naming them.
        tools = [e["spec"] for e in draw.entries]
        answer = await self.caller.call(
            "user",
            "turn",
            {
                "transcript": transcript(messages),
                "instruction": instruction,
                "input_json": json.dumps({"request": request, "mode": mode, "tools": tools}, ensure_ascii=False),
            },
        )
        return answer.value["message"].strip()

    async def assistant_turn(self, draw: DialogPlanInput, messages: list[dict[str, Any]], require_call: bool = False) -> ParseResult:
        specs = [e["spec"] for e in draw.entries]
        wire_messages, tools_param = render_openai_messages(specs, messages)
        if self.settings.strict_tools:
            tools_param = [{**tool, "function": {**tool["function"], "strict": True}} for tool in tools_param]
        system = self.caller.loaded.prompts["assistant"]["respond"].render({"current_time": draw.current_time})
        extra = {"tool_choice": "required"} if require_call else {}
        answer = await self.caller.call("assistant", "respond", messages=system + wire_messages, tools=tools_param, **extra)
        return answer.value

    async def tool_results(self, dialog_id: str, draw: DialogPlanInput, calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
        by_name = {e["spec"]["name"]: e for e in draw.entries}
        results: list[dict[str, Any] | None] = [None] * len(calls)
        simulated: list[int] = []
        for position, call in enumerate(calls):
            entry = by_name[call["name"]]
            backend = self.backends.backend_for(call["name"], entry) if self.settings.executable_backends else None
            if backend is not None:
                outcome = await backend.execute(dialog_id, call, entry)
                results[position] = {"name": call["name"], "status": outcome["status"], "content": outcome["content"], "executed": True}
            else:
                simulated.append(position)
        if simulated:
            tools = [
                {
                    **by_name[calls[p]["name"]]["spec"],
                    **({"returns": by_name[calls[p]["name"]]["returns"]} if "returns" in by_name[calls[p]["name"]] else {}),
                }
                for p in simulated
            ]
            answer = await self.caller.call(
                "tool",
                "execute",
                {
                    "current_time": draw.current_time,
                    "input_json": json.dumps({"tools": tools, "calls": [calls[p] for p in simulated]}, ensure_ascii=False),
                },
                schema=tool_result_schema_for(len(simulated)),
            )
            produced = answer.value["results"]
            if len(produced) != len(simulated):
                raise DialogAbandoned("tool_result_mismatch", f"{len(simulated)} calls but {len(produced)} results")
            for position, result in zip(simulated, produced):
                results[position] = {
                    "name": calls[position]["name"],
                    "status": result["status"],
                    "content": result["content"],
                    "executed": False,
                }
        return [r for r in results if r is not None]

    async def run(self, dialog_id: str, draw: DialogPlanInput) -> dict[str, Any]:
        record: dict[str, Any] = {
            "domain": draw.domain,
            "tools": [e["spec"] for e in draw.entries],
            "tool_sources": {e["spec"]["name"]: e.get("source") for e in draw.entries},
            "current_time": draw.current_time,
            "kinds": draw.kinds,
            "messages": [],
            "steps": [],
            "status": "ok",
        }
        messages: list[dict[str, Any]] = record["messages"]
        specs = record["tools"]
        try:
            record["plan"] = await self.plan(draw)
            for number, request in enumerate(record["plan"]):
                messages.append(
                    {"role": "user", "content": await self.user_turn(draw, messages, request, "new_request", "Make this request now.")}
                )
                supplied = not request.get("withhold")
                needs_tools = request["kind"] != "no_tool"
                fresh_user_turn = True
                for _ in range(self.settings.max_assistant_steps_per_request):
                    expects = step_expectation(request, fresh_user_turn, supplied)
                    require = self.settings.tool_choice == "plan" and needs_tools and fresh_user_turn and supplied
                    fresh_user_turn = False
                    parsed = await self.assistant_turn(draw, messages, require_call=require)
                    calls = [c.to_dict() for c in parsed.calls]
                    issues = [{"reason": "malformed_call", "message": e} for e in parsed.errors]
                    for call in calls:
                        issues += [{"reason": i.reason, "message": i.message} for i in validate_call(call, specs)]
                    step = {"message_index": len(messages), "calls": calls, "rule_issues": issues, "expects": expects, "request": number}
                    record["steps"].append(step)
                    if calls or issues:
                        messages.append({"role": "assistant", "content": parsed.text, "tool_calls": calls})
                        if issues:
                            raise DialogAbandoned("rule_failed", "; ".join(i["message"] for i in issues)[:500])
                        results = await self.tool_results(dialog_id, draw, calls)
                        step["executed"] = [r["executed"] for r in results]
                        for result in results:
                            content = result["content"] if result["status"] == "ok" else {"error": result["content"]}
                            messages.append({"role": "tool", "name": result["name"], "content": json.dumps(content, ensure_ascii=False)})
                        continue
                    messages.append({"role": "assistant", "content": parsed.text or NO_ANSWER})
                    if not supplied:
                        supplied = True
                        messages.append(
                            {
                                "role": "user",
                                "content": await self.user_turn(
                                    draw, messages, request, "supply", "The assistant asked for something you left out: give it now."
                                ),
                            }
                        )
                        fresh_user_turn = True
                        continue
                    break
        except DialogAbandoned as error:
            record["status"] = error.reason
            record["failure"] = str(error)
        except OutputInvalid as error:
            record["status"] = f"output_{error.reason}"
            record["failure"] = str(error)[:500]
        finally:
            await self.backends.close_session(dialog_id)
        return record


class DialogsStage(Stage):
    """Seed stage 3: simulate `dialogs.count` dialogs over the tool pool, one record each."""

    key, title = STAGE, "dialog simulation"
    skip_message = "{key}: finished earlier ({finished_at}), skipped"

    def __init__(
        self, caller: RoleCaller | None, settings: DialogSettings, seed: int, backends: Callable[[], Awaitable[BackendRegistry]]
    ) -> None:
        self.caller = caller
        self.settings = settings
        self.seed = seed
        self.backends = backends

    async def run(self, ctx: StageContext) -> StageOutcome:
        groups = pool.by_domain(pool.load_pool(ctx.store))
        if not groups:
            raise StageError("the tool pool is empty: enable synth.pool.use_synthesized with synth.apis.attempts > 0, or import tools")
        assert self.caller is not None, "dialog simulation calls the planner, user, assistant and tool roles"
        simulator = DialogSimulator(self.caller, self.settings, await self.backends())
        count = self.settings.count
        units = ((f"d{i:06d}", i) for i in range(count))

        async def work(dialog_id: str, _: int) -> dict[str, Any]:
            return await simulator.run(dialog_id, draw_dialog(dialog_id, self.seed, groups, self.settings))

        with JsonlWriter(ctx.store.path(STAGE, "dialogs.jsonl")) as out, JsonlWriter(ctx.store.path(STAGE, "errors.jsonl")) as errors:
            summary = await run_units(
                units, work, out=out, errors=errors, concurrency=self.settings.concurrency, label="dialogs", total=count
            )
        statuses: dict[str, int] = {}
        turns = steps = 0
        for record in iter_jsonl(ctx.store.path(STAGE, "dialogs.jsonl")):
            statuses[record["status"]] = statuses.get(record["status"], 0) + 1
            turns += len(record["messages"])
            steps += sum(1 for step in record["steps"] if step.get("calls"))
        return StageOutcome(
            counts={
                "dialogs": sum(statuses.values()),
                "messages": turns,
                "tool_call_steps": steps,
                "llm_failures": summary.failed,
                **{f"status[{k}]": v for k, v in sorted(statuses.items())},
            }
        )
