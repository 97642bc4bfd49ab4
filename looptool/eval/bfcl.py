"""Score a model behind an OpenAI-compatible endpoint on the offline BFCL categories.

Every item is one unit of looptool.units.run_units: its verdict is appended to
`<out>/results.jsonl` the moment it is known, so an interrupted evaluation resumes where it
stopped and a finished one is never recomputed (a rerun only adds items a larger selection asks
for). LLM calls go through the engine's client (its concurrency limits, retries, cache and
counters); data, AST checking and multi-turn backends come from the BFCL worker process.

Single-turn items: one request; AST categories are judged by bfcl's own `ast_checker`,
relevance by "made a call", irrelevance by "made none" (BFCL's rules).
Multi-turn items: BFCL's inference loop. Each turn adds the user's message (or, where the
item withholds functions until a turn, adds them and BFCL's "I have updated some more
functions" message); the model is asked again while it keeps calling functions, each call
executed by the worker and its result sent back, and a turn ends at the first answer with no
decodable call. More than `max_steps` steps with calls in one turn force-quits the item (BFCL's
MAXIMUM_STEP_LIMIT = 20). After each turn the worker judges it (looptool.eval.bfcl_backends);
the first failed turn decides the item, so later turns are not generated.

A request the server rejects (4xx, e.g. a prompt longer than the model's context) makes the
item wrong, as BFCL scores inference errors; an endpoint that stays unreachable leaves the item
without a verdict (counted wrong, flagged incomplete) and a rerun retries it.

Outputs in `<out>`: settings.json, results.jsonl, errors.jsonl (items an endpoint gave up on;
retried on rerun), scores.json (summary, see looptool.eval.scoreboard) and scores.md.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from looptool.errors import ConfigError, RequestRejected
from looptool.eval.bfcl_client import BfclWorker, BfclWorkerDied
from looptool.eval.bfcl_format import (
    Decoded,
    WireTools,
    build_request,
    decode_answer,
)
from looptool.eval.categories import CATEGORIES, KINDS, MULTI_TURN
from looptool.eval.settings import BFCL_MAX_STEPS, BfclEvalSettings  # noqa: F401 (re-exported)
from looptool.eval.scoreboard import CategoryScore, headline, render_markdown, summarize
from looptool.llm.client import LLMClient
from looptool.store.atomic import atomic_write_json, atomic_write_text, read_json
from looptool.store.jsonl import JsonlWriter, iter_jsonl
from looptool.units import run_units

# The user turn BFCL sends (FC mode) when withheld functions become available.
ADDED_FUNCTIONS_MESSAGE = "I have updated some more functions you can choose from. What about now?"
# Settings that change answers: a resumed run must use the same values as the records on disk.
_RESULT_SETTINGS = ("format", "max_tokens", "temperature", "current_time", "max_steps", "cache_salt")


@dataclass
class BfclReport:
    out_dir: Path
    summary: dict[str, Any]
    units: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> dict[str, float | None]:
        return headline(self.summary)

    @property
    def markdown(self) -> str:
        return (self.out_dir / "scores.md").read_text(encoding="utf-8")


def _check_resume(out_dir: Path, settings: BfclEvalSettings) -> None:
    path = out_dir / "settings.json"
    previous = read_json(path)
    current = settings.model_dump(mode="json")
    if previous is not None and (out_dir / "results.jsonl").exists():
        for key in _RESULT_SETTINGS:
            if previous.get(key) != current.get(key):
                raise ConfigError(
                    str(path),
                    key,
                    f"this output folder holds results made with {key}={previous.get(key)!r}, not {current.get(key)!r}; "
                    "use another output folder",
                )
    atomic_write_json(path, current)


class _ItemRunner:
    """The per-item work: shared by every unit of one evaluation."""

    def __init__(self, client: LLMClient, role: str, worker: BfclWorker, settings: BfclEvalSettings) -> None:
        self.client = client
        self.role = role
        self.worker = worker
        self.settings = settings

    async def _ask(self, tools: WireTools, messages: list[dict[str, Any]]) -> tuple[Decoded, dict[str, Any]]:
        s = self.settings
        request = build_request(
            tools,
            messages,
            s.format,
            current_time=s.current_time,
            max_tokens=s.max_tokens,
            temperature=s.temperature,
            cache_salt=s.cache_salt,
        )
        result = await self.client.chat(self.role, request)
        usage = {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens, "cached": result.cached}
        return decode_answer(result, tools.names), usage

    async def __call__(self, item_id: str, item: dict[str, Any]) -> dict[str, Any]:
        try:
            if item["category"] in MULTI_TURN:
                return await self._multi_turn(item)
            return await self._single_turn(item)
        except RequestRejected as exc:
            # The server refuses this request for good (e.g. the prompt exceeds the model's
            # context): a wrong answer, as BFCL scores inference errors. Transient failures are
            # not caught here; run_units records them and a rerun retries the item.
            return {
                "category": item["category"],
                "valid": False,
                "error_type": "inference_error:request_rejected",
                "error": str(exc)[:2000],
            }

    async def _single_turn(self, item: dict[str, Any]) -> dict[str, Any]:
        category = item["category"]
        tools = WireTools.build(item["function"], self.settings.format, item["id"])
        messages = [dict(m) for m in item["question"][0]]
        decoded, usage = await self._ask(tools, messages)
        kind = KINDS[category]
        if kind == "ast":
            verdict = await self.worker.call("score_ast", item=item["id"], calls=decoded.calls)
        elif kind == "relevance":
            verdict = (
                {"valid": True}
                if decoded.has_calls
                else {"valid": False, "error_type": "relevance_error:decoder_failed", "error": "no function call decoded"}
            )
        else:
            verdict = (
                {"valid": True}
                if not decoded.has_calls
                else {"valid": False, "error_type": "irrelevance_error:decoder_success", "error": "made a function call"}
            )
        return {
            "category": category,
            **verdict,
            "calls": decoded.calls,
            "text": decoded.text,
            "decode_errors": decoded.errors,
            "output": decoded.raw,
            "usage": usage,
        }

    async def _multi_turn(self, item: dict[str, Any]) -> dict[str, Any]:
        item_id = item["id"]
        fmt = self.settings.format
        available = list(item["function"])
        tools = WireTools.build(available, fmt, item_id)
        withheld: dict[str, list[dict[str, Any]]] = item.get("missed_function") or {}
        messages: list[dict[str, Any]] = []
        turns: list[dict[str, Any]] = []
        verdict: dict[str, Any] = {"valid": True}
        requests = 0
        await self.worker.call("mt_open", item=item_id)
        try:
            for turn_index, turn_messages in enumerate(item["question"]):
                if str(turn_index) in withheld:
                    available += withheld[str(turn_index)]
                    tools = WireTools.build(available, fmt, item_id)
                    turn_messages = [{"role": "user", "content": ADDED_FUNCTIONS_MESSAGE}]
                messages.extend(dict(m) for m in turn_messages)
                steps: list[dict[str, Any]] = []
                forced_quit = False
                while True:
                    decoded, usage = await self._ask(tools, messages)
                    requests += 1
                    step: dict[str, Any] = {"calls": decoded.calls, "text": decoded.text, "usage": usage}
                    if decoded.errors:
                        step["decode_errors"] = decoded.errors
                    steps.append(step)
                    if not decoded.has_calls:
                        messages.append({"role": "assistant", "content": decoded.text})
                        break
                    assert decoded.calls is not None
                    results = await self.worker.call("mt_exec", item=item_id, calls=decoded.calls)
                    step["results"] = results
                    messages.append({"role": "assistant", "content": decoded.text, "tool_calls": decoded.calls})
                    for call, output in zip(decoded.calls, results):
                        messages.append({"role": "tool", "name": call["name"], "content": output})
                    if sum(1 for s in steps if s["calls"]) > self.settings.max_steps:
                        forced_quit = True
                        break
                if forced_quit:
                    turns.append({"steps": steps})
                    verdict = {
                        "valid": False,
                        "error_type": "multi_turn:force_terminated",
                        "error": f"more than {self.settings.max_steps} steps with calls in turn {turn_index}",
                    }
                    break
                turn_verdict = await self.worker.call("mt_end_turn", item=item_id, turn=turn_index)
                turns.append({"steps": steps, "verdict": turn_verdict})
                if not turn_verdict["valid"]:
                    verdict = {k: v for k, v in turn_verdict.items() if k != "checked"}
                    verdict["turn"] = turn_index
                    break
        finally:
            await self.worker.call("mt_close", item=item_id)
        return {
            "category": item["category"],
            **verdict,
            "turns_played": len(turns),
            "turns_total": len(item["question"]),
            "requests": requests,
            "turns": turns,
        }


def _scores(out_dir: Path, items: list[dict[str, Any]]) -> dict[str, CategoryScore]:
    """Per-category counts over the selected items (records of other selections are ignored)."""
    selected = {item["id"]: item["category"] for item in items}
    scores = {c: CategoryScore(c) for c in CATEGORIES if c in set(selected.values())}
    for category in selected.values():
        scores[category].total += 1
    seen: set[str] = set()
    for record in iter_jsonl(out_dir / "results.jsonl"):
        item_id = record.get("id")
        if item_id not in selected or item_id in seen:
            continue
        seen.add(item_id)
        score = scores[selected[item_id]]
        score.scored += 1
        score.correct += 1 if record.get("valid") else 0
    return scores


async def evaluate_bfcl(
    client: LLMClient,
    role: str,
    out_dir: Path,
    settings: BfclEvalSettings | None = None,
    *,
    title: str | None = None,
    worker: BfclWorker | None = None,
) -> BfclReport:
    """Evaluate the endpoint(s) behind `role`; resumes from whatever `out_dir` already holds.

    `worker`: an already started BFCL worker to use (it stays running); by default one is
    started for this evaluation and stopped at its end.
    """
    settings = settings or BfclEvalSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    _check_resume(out_dir, settings)
    started = time.monotonic()
    window = client.stats.window()
    python = Path(settings.python).expanduser() if settings.python else None
    async with contextlib.AsyncExitStack() as stack:
        if worker is None:
            worker = await stack.enter_async_context(BfclWorker(out_dir / "worker", python=python))
        selection = await worker.call("items", categories=settings.categories, limit=settings.limit, ids=settings.ids)
        items: list[dict[str, Any]] = selection["items"]
        # Dialogs first: they are the long units, so the run does not end waiting on one of them.
        items.sort(key=lambda item: item["category"] not in MULTI_TURN)
        runner = _ItemRunner(client, role, worker, settings)
        with JsonlWriter(out_dir / "results.jsonl") as out, JsonlWriter(out_dir / "errors.jsonl", key=None) as errors:
            units = await run_units(
                [(item["id"], item) for item in items],
                runner,
                out=out,
                errors=errors,
                concurrency=settings.concurrency,
                label=f"BFCL ({settings.format} format)",
            )
        if worker.dead:
            raise BfclWorkerDied(f"the BFCL worker died during the evaluation:\n{worker.stderr_tail()}")
        bfcl_version = worker.version
    summary = summarize(_scores(out_dir, items))
    summary["run"] = {
        "role": role,
        "models": client.model_identity(role),
        "format": settings.format,
        "bfcl_eval": bfcl_version,
        "items": len(items),
        "available": selection["available"],
        "limit": settings.limit,
        "elapsed_s": round(time.monotonic() - started, 2),
        "units": units.as_dict(),
        "client": window.report(),
    }
    atomic_write_json(out_dir / "scores.json", summary)
    atomic_write_text(
        out_dir / "scores.md", render_markdown(summary, title or f"BFCL: {client.model_identity(role)} ({settings.format} format)")
    )
    return BfclReport(out_dir=out_dir, summary=summary, units=units.as_dict())


def headline_scores(out_dir: Path) -> dict[str, float | None]:
    """The six Table 1 numbers (fractions) of a finished evaluation folder, for curves."""
    summary = read_json(Path(out_dir) / "scores.json")
    if summary is None:
        raise FileNotFoundError(f"{out_dir} has no scores.json (the evaluation has not finished)")
    return headline(summary)
