#!/usr/bin/env python
"""Apply today's quality gates to what a finished run accepted, and print what they would reject.

For a run directory made by any engine version (e.g. the quickstart run before the gates
existed), with the gates' default settings:
  - seed dialogs that passed verification (and their step samples): rule findings now;
  - the judge answers those dialogs passed on: how many contradict themselves (the caller now
    asks again, then treats them as unusable);
  - EDDE samples each iteration accepted: rule findings now (structure, grounding, variant of seed);
  - JGLV label fixes: how many the guard would block, and label verdicts that contradict their
    analysis.
Nothing in the run directory is changed. Usage:
  python scripts/quality_recheck.py runs/quickstart [--json out.json] [--examples 3]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from looptool.loop.expand import answer_kind, expand_payload, seed_ref
from looptool.loop.judge import label_fix_problems
from looptool.roles.answer_checks import label_verdict_contradiction, step_verdict_contradiction
from looptool.samples import StepSample
from looptool.store import iter_jsonl, read_json
from looptool.synth.config import VerifySettings
from looptool.synth.quality import shorten
from looptool.synth.verify import RuleContext, rule_findings, subject_from_dialog, subject_from_sample


SETTINGS = VerifySettings()
DUPLICATE_THRESHOLD = 0.9


def use_run_settings(run: Path) -> None:
    """The run's own synth.verify and EDDE near-duplicate settings (an older run's config has no
    gate keys: their defaults apply)."""
    global SETTINGS, DUPLICATE_THRESHOLD
    resolved = read_json(run / "config.resolved.json", default={})
    SETTINGS = VerifySettings.model_validate(resolved.get("synth", {}).get("verify", {}))
    DUPLICATE_THRESHOLD = resolved.get("loop", {}).get("expand", {}).get("near_duplicate_threshold", 0.9)


def rejecting(subject: Any) -> tuple[list[str], list[str], list[Any]]:
    """(reasons that reject now, reasons sent to the judge, the findings) under the run's settings."""
    findings = rule_findings(subject, context=RuleContext(SETTINGS), use_judge=SETTINGS.judge)
    reject = list(dict.fromkeys(f.reason for f in findings if f.action == "reject"))
    judge = list(dict.fromkeys(f.reason for f in findings if f.action == "judge"))
    return reject, judge, findings


def recheck_seed(run: Path, examples: int) -> dict[str, Any]:
    dialogs = {r["id"]: r for r in iter_jsonl(run / "seed/dialogs/dialogs.jsonl")}
    duplicates = read_json(run / "seed/verify/duplicates.json", default={})
    verdicts = [v for v in iter_jsonl(run / "seed/verify/verdicts.jsonl")]
    accepted = [v for v in verdicts if v.get("passed") and v["id"] not in duplicates]
    samples = Counter(r["provenance"]["dialog_id"] for r in iter_jsonl(run / "seed/samples/samples.jsonl"))
    by_reason: Counter[str] = Counter()
    referred: Counter[str] = Counter()
    shown: dict[str, list[str]] = {}
    rejected_dialogs: list[str] = []
    contradicting: list[str] = []
    judged_steps = contradicting_steps = 0
    for verdict in accepted:
        reject, judge, findings = rejecting(subject_from_dialog(dialogs[verdict["id"]]))
        referred.update(judge)
        if reject:
            rejected_dialogs.append(verdict["id"])
            by_reason.update(reject)
            for reason in reject:
                finding = next(f for f in findings if f.reason == reason)
                bucket = shown.setdefault(reason, [])
                if len(bucket) < examples:
                    bucket.append(f"{verdict['id']}: {shorten(finding.message, 140)}")
        steps = verdict.get("steps", [])
        judged_steps += len(steps)
        bad = [s for s in steps if step_verdict_contradiction(s) is not None]
        contradicting_steps += len(bad)
        if bad:
            contradicting.append(verdict["id"])
    either = set(rejected_dialogs) | set(contradicting)
    return {
        "dialogs_accepted_before": len(accepted),
        "samples_accepted_before": sum(samples[v["id"]] for v in accepted),
        "dialogs_rejected_by_rules_now": len(rejected_dialogs),
        "samples_rejected_by_rules_now": sum(samples[i] for i in rejected_dialogs),
        "rule_rejections_by_reason": dict(sorted(by_reason.items(), key=lambda i: -i[1])),
        "sent_to_judge_by_reason": dict(referred),
        "judge_answers_passed_on": judged_steps,
        "judge_answers_contradicting_themselves": contradicting_steps,
        "dialogs_with_a_contradicting_judge_answer": len(contradicting),
        "dialogs_rejected_by_rules_or_refused_judge_answer": len(either),
        "samples_rejected_by_rules_or_refused_judge_answer": sum(samples[i] for i in either),
        "examples": shown,
    }


def recheck_iteration(run: Path, iteration: int, examples: int) -> dict[str, Any] | None:
    folder = run / f"iter_{iteration:02d}"
    accepted_path = folder / "expand/accepted.jsonl"
    if not accepted_path.is_file():
        return None
    dataset = {r["id"]: StepSample.model_validate(r) for r in iter_jsonl(folder / "dataset/dataset.jsonl")}
    probes = {r["id"]: r for r in iter_jsonl(folder / "probe/results.jsonl")}
    verdicts = {r["id"]: r for r in iter_jsonl(folder / "judge/verdicts.jsonl")}
    from looptool.loop.compose import error_seeds

    seeds = {s.id: s for s in error_seeds(list(dataset.values()), probes, verdicts, iteration)}
    by_reason: Counter[str] = Counter()
    shown: dict[str, list[str]] = {}
    accepted = [StepSample.model_validate(r) for r in iter_jsonl(accepted_path)]
    rejected = []
    for sample in accepted:
        seed = seeds[sample.provenance.parent_id]
        payload = expand_payload(seed, verdicts[seed.id], probes[seed.id], [])
        subject = subject_from_sample(sample, answer_kind(seed), seed_ref(seed, payload, DUPLICATE_THRESHOLD))
        reject, _, findings = rejecting(subject)
        if reject:
            rejected.append(sample.id)
            by_reason.update(reject)
            for reason in reject:
                finding = next(f for f in findings if f.reason == reason)
                bucket = shown.setdefault(reason, [])
                if len(bucket) < examples:
                    bucket.append(f"{sample.id}: {shorten(finding.message, 140)}")
    fixes = [v for v in verdicts.values() if v["verdict"] == "LABEL_WRONG"]
    blocked = {v["id"]: [p["reason"] for p in label_fix_problems(dataset[v["id"]], probes[v["id"]], SETTINGS)] for v in fixes}
    orders = [o for v in verdicts.values() for o in v.get("orders", []) if o.get("verdict")]
    contradicting_orders = [o for o in orders if label_verdict_contradiction(o) is not None]
    return {
        "edde_accepted_before": len(accepted),
        "edde_rejected_by_rules_now": len(rejected),
        "edde_rejections_by_reason": dict(sorted(by_reason.items(), key=lambda i: -i[1])),
        "label_fixes_before": len(fixes),
        "label_fixes_blocked_by_guard_now": sum(1 for reasons in blocked.values() if reasons),
        "label_fix_block_reasons": dict(Counter(r for reasons in blocked.values() for r in dict.fromkeys(reasons))),
        "label_verdict_answers": len(orders),
        "label_verdict_answers_contradicting_their_analysis": len(contradicting_orders),
        "examples": shown,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", type=Path)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--examples", type=int, default=3)
    args = parser.parse_args()
    use_run_settings(args.run)
    report: dict[str, Any] = {"run": str(args.run), "seed": recheck_seed(args.run, args.examples)}
    iteration = 1
    while (found := recheck_iteration(args.run, iteration, args.examples)) is not None:
        report[f"iter_{iteration:02d}"] = found
        iteration += 1
    text = json.dumps(report, indent=2, ensure_ascii=False)
    print(text)
    if args.json:
        args.json.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
