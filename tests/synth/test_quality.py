"""Quality reports per stage (looptool.synth.quality): counts by reason, short examples, the files."""

from __future__ import annotations

import json
from pathlib import Path

from looptool.store import RunStore
from looptool.synth.quality import EXAMPLES_PER_REASON, expand_quality, render_markdown, seed_quality, write_quality_report

USER = {"role": "user", "content": "Please move some money for me."}
CALL = {"role": "assistant", "content": "", "tool_calls": [{"name": "transfer_money", "arguments": {"amount": 100}}]}


def verdict(i: int, reasons: list[str], step: int | None = 1) -> dict:
    findings = [{"reason": r, "message": f"finding {r} of d{i}", "step": step} for r in reasons if not r.startswith("judge:")]
    steps = [{"index": 1, "verdict": "fail", "reason": "the amount is invented"}] if "judge:fail" in reasons else []
    grounding = [] if reasons else [{"step": 1, "call": "f", "path": "x", "value": "1", "basis": "stated", "score": 1.0}]
    return {
        "id": f"d{i}",
        "passed": not reasons,
        "reasons": reasons,
        "findings": findings,
        "steps": steps,
        "grounding": grounding,
        "flags": [],
    }


def test_seed_quality_counts_every_reason_and_keeps_a_few_short_examples() -> None:
    verdicts = [verdict(i, ["ground:absent"]) for i in range(5)] + [
        verdict(5, ["rule:empty_turn", "ground:absent"], step=0),
        verdict(6, ["judge:fail"]),
        verdict(7, []),
        verdict(8, []),
    ]
    records = {v["id"]: {"messages": [USER, CALL]} for v in verdicts}
    quality = seed_quality(verdicts, records, {"d8": "d7"})
    assert (quality.checked, quality.accepted, quality.rejected) == (9, 2, 7)
    assert quality.rejected_by_reason == {"ground:absent": 6, "judge:fail": 1, "rule:empty_turn": 1}
    assert [e.id for e in quality.examples["ground:absent"]] == ["d0", "d1", "d2"] and EXAMPLES_PER_REASON == 3
    assert quality.examples["ground:absent"][0].excerpt.startswith("assistant: transfer_money(")
    assert quality.examples["rule:empty_turn"][0].excerpt == "user: Please move some money for me."
    assert quality.examples["judge:fail"][0].detail == "the amount is invented"
    assert quality.accepted_grounding == {"stated": 2} and quality.extra["near_duplicates_removed"] == 1
    text = render_markdown(quality)
    assert "| `ground:absent` | 6 | 67% |" in text and "### `judge:fail`" in text and "- d6: the amount is invented" in text


def test_expand_quality_counts_rejections_near_duplicates_and_lost_answers() -> None:
    sample = {"id": "s-i01e0", "messages": [USER], "label_calls": [{"name": "transfer_money", "arguments": {"amount": 100}}]}
    records = [
        {
            "id": "s",
            "verified": [dict(sample, id="s-i01e1"), dict(sample, id="s-i01e2")],
            "rejected": [
                {
                    "reason": "ground:absent",
                    "reasons": ["ground:absent", "rule:empty_turn"],
                    "findings": [{"reason": "ground:absent", "message": "argument transfer_money.amount = '100' appears nowhere"}],
                    "sample": sample,
                }
            ],
        },
        {"id": "t", "verified": [], "rejected": [{"reason": "output_schema_violation"}]},
    ]
    quality = expand_quality(records, ["s-i01e2"], error_seeds=2)
    assert (quality.checked, quality.accepted, quality.rejected) == (3, 1, 2)
    assert quality.rejected_by_reason == {"ground:absent": 1, "near_duplicate": 1, "rule:empty_turn": 1}
    assert quality.examples["ground:absent"][0].detail.startswith("argument transfer_money.amount")
    assert quality.extra["generator_answers_unusable"] == {"output_schema_violation": 1}


def test_reports_are_written_per_stage_with_an_index(tmp_path: Path) -> None:
    with RunStore(tmp_path / "run") as store:
        write_quality_report(store, "seed/verify", seed_quality([verdict(0, ["ground:absent"]), verdict(1, [])], {}, {}))
        write_quality_report(store, "iter_01/expand", expand_quality([], [], 0))
    folder = tmp_path / "run/report/quality"
    assert sorted(p.name for p in folder.iterdir()) == [
        "README.md",
        "iter_01_expand.json",
        "iter_01_expand.md",
        "seed_verify.json",
        "seed_verify.md",
    ]
    assert json.loads((folder / "seed_verify.json").read_text())["rejected_by_reason"] == {"ground:absent": 1}
    index = (folder / "README.md").read_text()
    assert "[seed/verify](seed_verify.md) | 2 | 1 | 1 | ground:absent 1 |" in index and "[iter_01/expand]" in index
