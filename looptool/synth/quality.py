"""A quality report per gated stage: what the gates accepted, what they rejected and why.

Written when a stage finishes, into the run's report directory as report/quality/<stage>.json and
.md (seed/verify -> seed_verify, iter_01/expand -> iter_01_expand), plus an index README.md, so a
user can see what the rules and the judge did without reading verdict files: counts of checked,
accepted and rejected units, counts by reason (a unit rejected for two reasons counts under both),
flagged findings kept under the flag policy, the grounding bases of accepted arguments, and up to
three short examples per rejection reason.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from looptool.samples import StepSample
from looptool.store import RunStore, atomic_write_json, atomic_write_text

EXAMPLES_PER_REASON = 3
EXCERPT_CHARS = 160


class Example(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    detail: str = Field(description="what the gate found")
    excerpt: str = Field("", description="the turn or answer it was about, shortened")


class StageQuality(BaseModel):
    model_config = ConfigDict(extra="forbid")

    stage: str
    unit: str = Field(description="what was checked: dialogs, samples, label fixes")
    checked: int
    accepted: int
    rejected: int
    rejected_by_reason: dict[str, int] = Field(default_factory=dict)
    flagged_by_reason: dict[str, int] = Field(default_factory=dict)
    accepted_grounding: dict[str, int] = Field(default_factory=dict, description="basis -> arguments of accepted units")
    extra: dict[str, Any] = Field(default_factory=dict)
    examples: dict[str, list[Example]] = Field(default_factory=dict)


def shorten(text: Any, limit: int = EXCERPT_CHARS) -> str:
    value = text if isinstance(text, str) else json.dumps(text, ensure_ascii=False)
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 3] + "..."


def _turn(messages: list[dict[str, Any]], index: int | None) -> str:
    if index is None or not 0 <= index < len(messages):
        return ""
    message = messages[index]
    if message.get("tool_calls"):
        calls = "; ".join(f"{c.get('name')}({json.dumps(c.get('arguments'), ensure_ascii=False)})" for c in message["tool_calls"])
        return shorten(f"{message.get('role')}: {calls}")
    return shorten(f"{message.get('role')}: {message.get('content', '')!s}")


def _add_example(examples: dict[str, list[Example]], reason: str, example: Example) -> None:
    bucket = examples.setdefault(reason, [])
    if len(bucket) < EXAMPLES_PER_REASON:
        bucket.append(example)


def _judge_example(verdict: dict[str, Any], reason: str) -> str:
    failed = [s for s in verdict.get("steps", []) if s.get("verdict") != "pass"]
    return shorten(failed[-1]["reason"]) if failed else reason


def seed_quality(verdicts: list[dict[str, Any]], records: dict[str, dict[str, Any]], duplicates: dict[str, str]) -> StageQuality:
    """Seed verification: dialogs checked, passed (before the near-duplicate pass), rejected."""
    by_reason: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    basis: Counter[str] = Counter()
    examples: dict[str, list[Example]] = {}
    for verdict in sorted(verdicts, key=lambda v: v["id"]):
        messages = records.get(verdict["id"], {}).get("messages", [])
        flagged.update(verdict.get("flags", []))
        if verdict.get("passed"):
            basis.update(g["basis"] for g in verdict.get("grounding", []))
            continue
        for reason in verdict.get("reasons", []):
            by_reason[reason] += 1
            finding = next((f for f in verdict.get("findings", []) if f["reason"] == reason), None)
            if finding is not None:
                _add_example(
                    examples,
                    reason,
                    Example(id=verdict["id"], detail=shorten(finding["message"]), excerpt=_turn(messages, finding.get("step"))),
                )
            else:
                step = next((s["index"] for s in verdict.get("steps", []) if s.get("verdict") != "pass"), None)
                _add_example(
                    examples, reason, Example(id=verdict["id"], detail=_judge_example(verdict, reason), excerpt=_turn(messages, step))
                )
    passed = sum(1 for v in verdicts if v.get("passed"))
    return StageQuality(
        stage="seed/verify",
        unit="dialogs",
        checked=len(verdicts),
        accepted=passed,
        rejected=len(verdicts) - passed,
        rejected_by_reason=dict(sorted(by_reason.items())),
        flagged_by_reason=dict(sorted(flagged.items())),
        accepted_grounding=dict(sorted(basis.items())),
        extra={"near_duplicates_removed": len(duplicates)},
        examples=examples,
    )


def judge_quality(verdicts: list[dict[str, Any]], samples: dict[str, StepSample], stage: str = "judge") -> StageQuality:
    """JGLV: label fixes the judge asked for, those the guard let through and those it blocked;
    judge answers that could not be used (self-contradicting ones included)."""
    by_reason: Counter[str] = Counter()
    examples: dict[str, list[Example]] = {}
    unusable: Counter[str] = Counter()
    for verdict in sorted(verdicts, key=lambda v: v["id"]):
        for order in verdict.get("orders", []):
            if order.get("error"):
                unusable[order["error"]] += 1
        guard = verdict.get("guard") or {}
        if not guard.get("blocked"):
            continue
        sample = samples.get(verdict["id"])
        for reason in guard.get("reasons", []):
            by_reason[reason] += 1
            finding = next((f for f in guard.get("findings", []) if f["reason"] == reason), {"message": reason})
            label = shorten(sample.label_calls or sample.label_text or "") if sample else ""
            _add_example(examples, reason, Example(id=verdict["id"], detail=shorten(finding["message"]), excerpt=f"label kept: {label}"))
    fixes = [v for v in verdicts if "guard" in v]
    blocked = sum(1 for v in fixes if v["guard"].get("blocked"))
    verdict_counts = Counter(v["verdict"] for v in verdicts)
    return StageQuality(
        stage=stage,
        unit="label fixes (LABEL_WRONG verdicts)",
        checked=len(fixes),
        accepted=len(fixes) - blocked,
        rejected=blocked,
        rejected_by_reason=dict(sorted(by_reason.items())),
        extra={
            "judged": len(verdicts),
            "verdicts": dict(sorted(verdict_counts.items())),
            "unusable_judge_answers": dict(sorted(unusable.items())),
        },
        examples=examples,
    )


def _sample_excerpt(raw: dict[str, Any]) -> str:
    users = [m.get("content", "") for m in raw.get("messages", []) if m.get("role") == "user"]
    answer = raw.get("label_calls") or raw.get("label_text") or ""
    return shorten(f"user: {users[-1] if users else ''!s} -> {shorten(answer, 80)}")


def expand_quality(records: list[dict[str, Any]], dropped: list[str], error_seeds: int, stage: str = "expand") -> StageQuality:
    """EDDE: new samples generated per error seed, verified, rejected (by reason), near duplicates."""
    by_reason: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    examples: dict[str, list[Example]] = {}
    generated = verified = 0
    lost_answers: Counter[str] = Counter()
    for record in sorted(records, key=lambda r: r["id"]):
        generated += len(record.get("verified", [])) + sum(1 for r in record.get("rejected", []) if "sample" in r)
        verified += len(record.get("verified", []))
        for raw in record.get("verified", []):
            flagged.update(raw.get("provenance", {}).get("verdicts", {}).get("flags", []))
        for rejection in record.get("rejected", []):
            if "sample" not in rejection:
                lost_answers[rejection["reason"]] += 1
                continue
            raw = rejection["sample"]
            findings = rejection.get("findings") or []
            for reason in rejection.get("reasons") or [rejection["reason"]]:
                by_reason[reason] += 1
                detail = next((f["message"] for f in findings if f.get("reason") == reason), reason)
                _add_example(examples, reason, Example(id=raw["id"], detail=shorten(detail), excerpt=_sample_excerpt(raw)))
    if dropped:
        by_reason["near_duplicate"] += len(dropped)
        for sample_id in sorted(dropped)[:EXAMPLES_PER_REASON]:
            _add_example(
                examples,
                "near_duplicate",
                Example(id=sample_id, detail="near duplicate of a sample already in D_j, the seed set or this stage"),
            )
    accepted = verified - len(dropped)
    return StageQuality(
        stage=stage,
        unit="new samples",
        checked=generated,
        accepted=accepted,
        rejected=generated - accepted,
        rejected_by_reason=dict(sorted(by_reason.items())),
        flagged_by_reason=dict(sorted(flagged.items())),
        extra={"error_seeds": error_seeds, "generator_answers_unusable": dict(sorted(lost_answers.items()))},
        examples=examples,
    )


def render_markdown(quality: StageQuality) -> str:
    lines = [
        f"# Quality gates: {quality.stage}",
        "",
        f"{quality.checked} {quality.unit} checked: {quality.accepted} accepted, {quality.rejected} rejected.",
        "",
    ]
    if quality.rejected_by_reason:
        lines += ["| rejected because | count | share of checked |", "|---|---|---|"]
        for reason, count in sorted(quality.rejected_by_reason.items(), key=lambda item: (-item[1], item[0])):
            share = f"{count / quality.checked:.0%}" if quality.checked else "-"
            lines.append(f"| `{reason}` | {count} | {share} |")
        lines.append("")
    if quality.flagged_by_reason:
        lines += ["Kept and flagged: " + ", ".join(f"`{k}` {v}" for k, v in quality.flagged_by_reason.items()), ""]
    if quality.accepted_grounding:
        lines += [
            "Arguments of accepted units by grounding basis: " + ", ".join(f"{k} {v}" for k, v in quality.accepted_grounding.items()),
            "",
        ]
    for key, value in quality.extra.items():
        if value not in ({}, None):
            lines.append(f"- {key}: {value if not isinstance(value, dict) else ', '.join(f'{k} {v}' for k, v in value.items())}")
    if quality.extra:
        lines.append("")
    if quality.examples:
        lines += ["## Examples", ""]
        for reason, examples in sorted(quality.examples.items()):
            lines.append(f"### `{reason}`")
            for example in examples:
                excerpt = f" - `{example.excerpt.replace('`', chr(39))}`" if example.excerpt else ""
                lines.append(f"- {example.id}: {example.detail}{excerpt}")
            lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def report_name(stage: str) -> str:
    return stage.replace("/", "_")


def write_quality_report(store: RunStore, stage: str, quality: StageQuality) -> None:
    """report/quality/<stage>.json and .md, and the index of every stage's report."""
    directory = store.stage_dir("report") / "quality"
    quality = quality.model_copy(update={"stage": stage})
    atomic_write_json(directory / f"{report_name(stage)}.json", quality.model_dump(mode="json"))
    atomic_write_text(directory / f"{report_name(stage)}.md", render_markdown(quality))
    rows = []
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        top = ", ".join(f"{k} {v}" for k, v in sorted(data.get("rejected_by_reason", {}).items(), key=lambda i: -i[1])[:3])
        rows.append(f"| [{data['stage']}]({path.stem}.md) | {data['checked']} | {data['accepted']} | {data['rejected']} | {top or '-'} |")
    atomic_write_text(
        directory / "README.md",
        "# Quality gates per stage\n\n| stage | checked | accepted | rejected | top reasons |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n",
    )
