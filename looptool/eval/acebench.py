"""Score a model behind an OpenAI-compatible endpoint on ACEBench (paper Table 2).

Every item is one unit of looptool.units.run_units, as in BFCL's evaluator: its record is
appended to `<out>/results.jsonl` the moment it is judged, so an interrupted evaluation resumes
where it stopped and a finished one is never recomputed. LLM calls go through the engine's
client (its concurrency limits, retries, cache and counters).

Normal and special items: one request (looptool.eval.acebench_format), judged in both modes
(looptool.eval.acebench_check): `acebench` (the official decisions) and `strict` (ToolMatch).
The normal multi-turn categories are stored per turn and scored per dialog.
Agent items: a whole dialog on our scenario backends (looptool.eval.acebench_agent); the
simulated user of agent_multi_turn is the engine role `settings.user_role`.

A request the server rejects (4xx, e.g. a prompt longer than the model's context) makes the
item wrong; an endpoint that stays unreachable leaves the item without a verdict (counted
wrong, flagged incomplete) and a rerun retries it.

Outputs in `<out>`: settings.json, results.jsonl, errors.jsonl, scores.json (both modes,
looptool.eval.acebench_scoreboard) and scores.md (Table 2).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from looptool.errors import ConfigError, NoEndpointAvailable, RequestRejected
from looptool.eval.acebench_agent import AgentSettings, run_agent_item
from looptool.eval.acebench_categories import AGENT, KINDS
from looptool.eval.acebench_check import (
    check_calls,
    check_normal_text,
    check_special,
    strict_calls,
    strict_normal_text,
    strict_special,
)
from looptool.eval.acebench_data import AceItem, load_items, source_info
from looptool.eval.acebench_decode import DecodeError, decode_answer, outermost_brackets
from looptool.eval.acebench_format import item_request, read_answer
from looptool.eval.acebench_scoreboard import headline, render_markdown, summarize
from looptool.eval.acebench_settings import AceBenchEvalSettings
from looptool.llm.client import LLMClient
from looptool.llm.types import ChatRequest, LLMResult
from looptool.store.atomic import atomic_write_json, atomic_write_text, read_json
from looptool.store.jsonl import JsonlWriter, iter_jsonl
from looptool.units import run_units

# Settings that change answers: a resumed run must use the same values as the records on disk.
_RESULT_SETTINGS = ("language", "format", "max_tokens", "temperature", "max_dialog_messages", "cache_salt")


@dataclass
class AceBenchReport:
    out_dir: Path
    summary: dict[str, Any]
    units: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> dict[str, float | None]:
        return headline(self.summary)

    @property
    def markdown(self) -> str:
        return (self.out_dir / "scores.md").read_text(encoding="utf-8")


def _check_resume(out_dir: Path, settings: AceBenchEvalSettings) -> None:
    path = out_dir / "settings.json"
    previous = read_json(path)
    current = settings.model_dump(mode="json")
    if previous is not None and (out_dir / "results.jsonl").exists():
        for key in _RESULT_SETTINGS:
            if previous.get(key) != current.get(key):
                raise ConfigError(
                    str(path),
                    key,
                    f"this output folder holds results made with {key}={previous.get(key)!r}, "
                    f"not {current.get(key)!r}; use another output folder",
                )
    atomic_write_json(path, current)


def judge_answer(item: AceItem, fmt: str, text: str, calls: list[dict[str, Any]] | None) -> dict[str, Any]:
    """Both modes' verdicts on a normal or special item's answer."""
    if KINDS[item.category] == "special":
        if fmt == "acebench":
            try:
                made = bool(decode_answer(outermost_brackets(text)))
            except DecodeError:
                made = False
        else:
            made = bool(calls)
        return {
            "acebench": check_special(text, item.ground_truth, item.category).as_dict(),
            "strict": strict_special(text, made, item.ground_truth, item.category).as_dict(),
        }
    if fmt == "acebench":
        return {
            "acebench": check_normal_text(item.functions, text, item.ground_truth, item.category).as_dict(),
            "strict": strict_normal_text(item.functions, text, item.ground_truth).as_dict(),
        }
    return {
        "acebench": check_calls(item.functions, calls or [], item.ground_truth, item.category).as_dict(),
        "strict": strict_calls(item.functions, calls or [], item.ground_truth).as_dict(),
    }


class _ItemRunner:
    def __init__(self, client: LLMClient, role: str, settings: AceBenchEvalSettings, user_client: LLMClient) -> None:
        self.client, self.role, self.settings, self.user_client = client, role, settings, user_client

    async def _ask(self, role: str, request: ChatRequest) -> LLMResult:
        """The agent loop's way to the models: the simulated user may live on another client
        (the loop serves each checkpoint on a client of its own)."""
        if role == self.settings.user_role and role != self.role:
            return await self.user_client.chat(role, request)
        return await self.client.chat(role, request)

    async def __call__(self, item_id: str, item: AceItem) -> dict[str, Any]:
        try:
            if item.category in AGENT:
                s = self.settings
                agent = AgentSettings(
                    fmt=s.format,
                    max_tokens=s.max_tokens,
                    temperature=s.temperature,
                    cache_salt=s.cache_salt,
                    agent_role=self.role,
                    user_role=s.user_role,
                    max_messages=s.max_dialog_messages,
                )
                return await run_agent_item(item, agent, self._ask)
            return await self._single(item)
        except RequestRejected as exc:
            # The server refuses this request for good (e.g. the prompt exceeds the context): a
            # wrong answer. Transient failures are not caught; run_units records them for a retry.
            wrong = {"valid": False, "error_type": "inference_error:request_rejected", "error": str(exc)[:2000]}
            return {"category": item.category, "acebench": wrong, "strict": wrong}

    async def _single(self, item: AceItem) -> dict[str, Any]:
        s = self.settings
        request, names = item_request(item, s.format, max_tokens=s.max_tokens, temperature=s.temperature, cache_salt=s.cache_salt)
        result = await self.client.chat(self.role, request)
        answer = read_answer(result, s.format, names)
        usage = {"prompt_tokens": result.usage.prompt_tokens, "completion_tokens": result.usage.completion_tokens, "cached": result.cached}
        return {
            "category": item.category,
            **judge_answer(item, s.format, answer.text, answer.calls),
            "text": answer.text,
            "calls": answer.calls,
            "decode_errors": answer.errors,
            "output": answer.raw,
            "usage": usage,
        }


def _records(out_dir: Path, wanted: set[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for record in iter_jsonl(out_dir / "results.jsonl"):
        if record.get("id") in wanted:
            found.setdefault(record["id"], record)
    return found


def _check_roles(client: LLMClient, user_client: LLMClient, role: str, settings: AceBenchEvalSettings, items: list[AceItem]) -> None:
    needed = [(client, role)] + ([(user_client, settings.user_role)] if any(i.category == "agent_multi_turn" for i in items) else [])
    for owner, name in needed:
        try:
            owner.role_endpoints(name)
        except NoEndpointAvailable:
            what = "the evaluated model" if name == role else "ACEBench's simulated user (agent_multi_turn)"
            raise ConfigError(
                "looptool eval acebench",
                "roles",
                f"role {name!r} ({what}) has no endpoint; configure it, or leave agent_multi_turn out of the categories",
            ) from None


async def evaluate_acebench(
    client: LLMClient,
    role: str,
    out_dir: Path,
    settings: AceBenchEvalSettings | None = None,
    *,
    title: str | None = None,
    user_client: LLMClient | None = None,
) -> AceBenchReport:
    """Evaluate the endpoint(s) behind `role`; resumes from whatever `out_dir` already holds.

    `user_client`: where the simulated user's role lives, when not on `client`."""
    settings = settings or AceBenchEvalSettings()
    user_client = user_client or client
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    items = load_items(settings.categories, settings.language, data_dir=settings.data_dir, limit=settings.limit, ids=settings.ids)
    _check_roles(client, user_client, role, settings, items)
    _check_resume(out_dir, settings)
    started = time.monotonic()
    window = client.stats.window()
    # Dialogs first: they are the long units, so the run does not end waiting on one of them.
    ordered = sorted(items, key=lambda item: item.category not in AGENT)
    runner = _ItemRunner(client, role, settings, user_client)
    with JsonlWriter(out_dir / "results.jsonl") as out, JsonlWriter(out_dir / "errors.jsonl", key=None) as errors:
        units = await run_units(
            [(item.id, item) for item in ordered],
            runner,
            out=out,
            errors=errors,
            concurrency=settings.concurrency,
            label=f"ACEBench {settings.language} ({settings.format} format)",
        )
    run = {
        "role": role,
        "models": client.model_identity(role),
        "user_simulator": user_client.model_identity(settings.user_role) if any(i.category == "agent_multi_turn" for i in items) else None,
        "format": settings.format,
        "language": settings.language,
        "data": source_info(settings.data_dir),
        "items": len(items),
        "limit": settings.limit,
        "elapsed_s": round(time.monotonic() - started, 2),
        "units": units.as_dict(),
        "client": window.report(),
    }
    name = title or f"ACEBench ({settings.language}): {client.model_identity(role)} ({settings.format} format)"
    return write_scores(out_dir, items, run, name)


def write_scores(out_dir: Path, items: list[AceItem], run: dict[str, Any], title: str) -> AceBenchReport:
    """Score the records of `items` in `out_dir` (both modes) into scores.json and scores.md."""
    records = _records(out_dir, {i.id for i in items})
    summary = summarize([(i.id, i.category) for i in items], records)
    summary["run"] = run
    atomic_write_json(out_dir / "scores.json", summary)
    atomic_write_text(out_dir / "scores.md", render_markdown(summary, title))
    return AceBenchReport(out_dir=out_dir, summary=summary, units=run.get("units", {}))


def rescore(out_dir: Path, settings: AceBenchEvalSettings, title: str) -> AceBenchReport:
    """Scores of a selection from the records already in `out_dir`, without asking anything
    (e.g. after items were evaluated in several batches)."""
    items = load_items(settings.categories, settings.language, data_dir=settings.data_dir, limit=settings.limit, ids=settings.ids)
    run = {
        "rescored": True,
        "format": settings.format,
        "language": settings.language,
        "data": source_info(settings.data_dir),
        "items": len(items),
        "limit": settings.limit,
    }
    return write_scores(Path(out_dir), items, run, title)


def headline_scores(out_dir: Path) -> dict[str, float | None]:
    """The Table 2 numbers (fractions, both modes) of a finished evaluation folder, for curves."""
    summary = read_json(Path(out_dir) / "scores.json")
    if summary is None:
        raise FileNotFoundError(f"{out_dir} has no scores.json (the evaluation has not finished)")
    return headline(summary)
