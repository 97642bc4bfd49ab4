"""The whole loop against the simulator, with the recorded-checkpoint trainer double."""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

from looptool.config import load_config
from looptool.pipeline import run_all
from looptool.samples import StepSample
from looptool.sim.world import canonical_step, turns_from_messages
from looptool.store import read_json, read_jsonl

sys.path.insert(0, str(Path(__file__).parent))
from loop_support import RecordedCheckpointTrainer, loop_config, recorded_checkpoint


def canonical(sample: StepSample) -> list[dict]:
    return canonical_step(sample.tools, turns_from_messages(sample.messages)).calls


def norm(calls: list[dict]) -> list[str]:
    return sorted(json.dumps(c, sort_keys=True) for c in calls)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, RecordedCheckpointTrainer, dict]:
    tmp = tmp_path_factory.mktemp("loop")
    config = loop_config(tmp, dialogs=60, iterations=2, label_noise=0.35, first_size=30, dataset_size=30)
    trainer = RecordedCheckpointTrainer(recorded_checkpoint(tmp))
    result = anyio.run(lambda: run_all(load_config(config), trainer=trainer))
    return tmp / "run", trainer, result


def samples(path: Path) -> list[StepSample]:
    return [StepSample.model_validate(r) for r in read_jsonl(path)]


def test_label_noise_is_found_by_jglv_and_fixed(finished_run) -> None:
    run, _, _ = finished_run
    d1 = {s.id: s for s in samples(run / "iter_01/dataset/dataset.jsonl")}
    noisy = {i for i, s in d1.items() if s.label_calls and norm(s.label_calls) != norm(canonical(s))}
    assert noisy, "the labeler's injected noise should reach D_1 (rule tier only in this config)"
    verdicts = {v["id"]: v for v in read_jsonl(run / "iter_01/judge/verdicts.jsonl")}
    fixed = {i for i, v in verdicts.items() if v["verdict"] == "LABEL_WRONG"}
    assert fixed, "JGLV found no wrong label"
    assert fixed <= noisy, "a correct label was 'fixed'"
    probes = {r["id"]: r for r in read_jsonl(run / "iter_01/probe/results.jsonl")}
    # Every noisy label the policy answered correctly is caught (the judge here is exact).
    caught_possible = {i for i in noisy if norm(probes[i]["pred_calls"]) == norm(canonical(d1[i]))}
    assert caught_possible <= fixed
    d2 = {s.id: s for s in samples(run / "iter_02/dataset/dataset.jsonl")}
    for sample_id in fixed & set(d2):
        sample = d2[sample_id]
        assert sample.provenance.origin == "label_fix" and sample.provenance.bucket == "ES"
        assert norm(sample.label_calls) == norm(canonical(sample))
        assert norm(sample.provenance.previous_label) == norm(d1[sample_id].label_calls)


def test_edde_samples_trace_to_their_error_seeds(finished_run) -> None:
    run, _, _ = finished_run
    verdicts = {v["id"]: v["verdict"] for v in read_jsonl(run / "iter_01/judge/verdicts.jsonl")}
    seeds = {i for i, v in verdicts.items() if v in ("PRED_WRONG", "LABEL_WRONG")}
    accepted = samples(run / "iter_01/expand/accepted.jsonl")
    assert accepted
    for sample in accepted:
        assert sample.provenance.origin == "edde" and sample.provenance.parent_id in seeds
        assert canonical(sample) == sample.label_calls, "an EDDE label disagrees with its own user text"
    d2_ee = [s for s in samples(run / "iter_02/dataset/dataset.jsonl") if s.provenance.bucket == "EE"]
    assert d2_ee and {s.id for s in d2_ee} <= {s.id for s in accepted}


def test_composition_follows_the_configured_shares(finished_run) -> None:
    run, _, _ = finished_run
    for iteration, share in ((1, 0.308), (2, 0.154)):
        composition = read_json(run / f"iter_{iteration:02d}/compose/composition.json")
        dataset = samples(run / f"iter_{iteration + 1:02d}/dataset/dataset.jsonl")
        assert composition["size"] == len(dataset) == 30
        buckets = [s.provenance.bucket for s in dataset]
        assert buckets.count("SEED_NEW") >= round(share * 30)
        for bucket in ("ES", "EE", "HPPL", "SEED_NEW"):
            assert composition[f"D_{bucket}"] == buckets.count(bucket)
        assert len({s.id for s in dataset}) == len(dataset)
    seen_seed_new: set[str] = set()
    for iteration in (1, 2, 3):
        new = {s.id for s in samples(run / f"iter_{iteration:02d}/dataset/dataset.jsonl") if s.provenance.bucket == "SEED_NEW"}
        assert not new & seen_seed_new, "a 'never trained' seed sample was reused"
        seen_seed_new |= new


def test_trainer_chain_and_report(finished_run) -> None:
    run, trainer, result = finished_run
    assert [c["dataset"] for c in trainer.calls] == [run / "iter_01/dataset/dataset.jsonl", run / "iter_02/dataset/dataset.jsonl"]
    assert trainer.calls[1]["init_model"] == run / "iter_01/train/model"
    rows = read_json(run / "report/iterations.json")
    assert [r["iteration"] for r in rows][:2] == [1, 2]
    assert rows[0]["LABEL_WRONG"] >= 1 and rows[0]["accuracy"] is not None
    png = (run / "report/metrics.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    assert "| iter |" in (run / "report/iterations.md").read_text()
    manifest = read_json(run / "manifest.json")
    assert manifest["next"] == "finished"
    for stage in ("train", "probe", "judge", "expand", "compose"):
        assert f"iter_02/{stage}" in manifest["stages"]


def test_without_jglv_ablation_never_calls_the_judge_nor_touches_labels(tmp_path: Path) -> None:
    config = loop_config(tmp_path, dialogs=30, iterations=1, first_size=20, extra="[loop.ablations]\nwithout_jglv = true")
    trainer = RecordedCheckpointTrainer(recorded_checkpoint(tmp_path))
    anyio.run(lambda: run_all(load_config(config), trainer=trainer))
    run = tmp_path / "run"
    probes = read_jsonl(run / "iter_01/probe/results.jsonl")
    verdicts = read_jsonl(run / "iter_01/judge/verdicts.jsonl")
    assert {v["id"] for v in verdicts} == {p["id"] for p in probes if not p["matched"]}, "every mismatch is an error seed"
    assert verdicts and all(v["verdict"] == "PRED_WRONG" and v["ablation"] == "without_jglv" for v in verdicts)
    judge_stats = read_json(run / "stats/iter_01__judge.json")
    assert judge_stats["total"]["requests"] == 0
    d1 = {s.id: s for s in samples(run / "iter_01/dataset/dataset.jsonl")}
    d2 = samples(run / "iter_02/dataset/dataset.jsonl")
    assert not [s for s in d2 if s.provenance.origin == "label_fix"]
    for sample in d2:
        if sample.id in d1:
            assert sample.label_calls == d1[sample.id].label_calls and sample.label_text == d1[sample.id].label_text


def test_a_policy_endpoint_the_loop_does_not_serve_is_a_config_error(tmp_path: Path) -> None:
    from looptool.errors import ConfigError

    config = loop_config(tmp_path, dialogs=4, iterations=1, first_size=2)
    config.write_text(config.read_text().replace("fixed_endpoint = true", "fixed_endpoint = false"))
    trainer = RecordedCheckpointTrainer(recorded_checkpoint(tmp_path))
    with pytest.raises(ConfigError) as error:
        anyio.run(lambda: run_all(load_config(config), trainer=trainer))
    assert error.value.key == "roles.policy" and "fixed_endpoint" in str(error.value)
    assert not (tmp_path / "run/seed").exists(), "nothing runs before the configuration is fixed"


def test_every_probe_result_records_the_model_that_answered(finished_run) -> None:
    run, _, _ = finished_run
    results = read_jsonl(run / "iter_01/probe/results.jsonl")
    assert results and all(r["endpoint"] == "policy" and r["model"] == "sim-policy" for r in results)
    assert read_json(run / "manifest.json")["stages"]["iter_01/probe"]["counts"]["fixed_endpoint"] is True


def test_status_lists_stages_in_pipeline_order(finished_run, capsys: pytest.CaptureFixture[str]) -> None:
    from looptool.cli import main

    run, _, _ = finished_run
    assert main(["status", str(run)]) == 0
    out = capsys.readouterr().out
    positions = [
        out.index(key)
        for key in ("seed/apis", "seed/samples", "iter_01/dataset", "iter_01/train", "iter_01/probe", "iter_01/compose", "iter_02/train")
    ]
    assert positions == sorted(positions)
    assert "next: finished" in out
    assert "D_SEED_NEW=" in out


@pytest.mark.parametrize("ablation", ["error_seed_repetition", "remove_edde"])
def test_d_ee_ablations_ask_no_generator_and_compose_their_replacement(tmp_path: Path, ablation: str) -> None:
    config = loop_config(tmp_path, dialogs=30, iterations=1, first_size=20, dataset_size=40, extra=f"[loop.ablations]\n{ablation} = true")
    trainer = RecordedCheckpointTrainer(recorded_checkpoint(tmp_path))
    anyio.run(lambda: run_all(load_config(config), trainer=trainer))
    run = tmp_path / "run"
    assert "generator" not in read_json(run / "stats/iter_01__expand.json").get("roles", {})
    seeds = {v["id"] for v in read_jsonl(run / "iter_01/judge/verdicts.jsonl") if v["verdict"] in ("PRED_WRONG", "LABEL_WRONG")}
    assert seeds, "the policy's injected errors give error seeds"
    d2 = samples(run / "iter_02/dataset/dataset.jsonl")
    composition = read_json(run / "iter_01/compose/composition.json")
    assert composition["D_EE"] == 0 and composition["ablation"] == ablation
    copies = [s for s in d2 if s.provenance.selection == "error_seed_repetition"]
    if ablation == "remove_edde":
        assert not copies
        return
    assert copies, "the near-duplicate filter must not delete the repetitions"
    assert {c.provenance.parent_id for c in copies} <= seeds and all("~rep" in c.id for c in copies)
    per_parent = Counter(c.provenance.parent_id for c in copies)
    assert max(per_parent.values()) <= 4, "k = 4 repetitions per error seed at most"
    assert all(c.provenance.bucket == "ES" for c in copies)


def test_rechecking_a_run_made_with_the_gates_finds_nothing_new(finished_run) -> None:
    """scripts/quality_recheck.py applies today's gates to a run's accepted data (it measured the
    quickstart before the gates existed); on a run made with them it must agree with the stages."""
    import subprocess

    run, _, _ = finished_run
    script = Path(__file__).resolve().parents[2] / "scripts/quality_recheck.py"
    done = subprocess.run([sys.executable, str(script), str(run)], capture_output=True, text=True, check=True)
    report = json.loads(done.stdout)
    seed = report["seed"]
    verify = read_json(run / "manifest.json")["stages"]["seed/verify"]["counts"]
    assert seed["dialogs_accepted_before"] == verify["seed_dialogs"] > 0
    assert seed["dialogs_rejected_by_rules_now"] == 0 and seed["judge_answers_contradicting_themselves"] == 0
    first = report["iter_01"]
    assert first["edde_accepted_before"] == len(read_jsonl(run / "iter_01/expand/accepted.jsonl")) > 0
    assert first["edde_rejected_by_rules_now"] == 0 and first["label_fixes_blocked_by_guard_now"] == 0
    assert (
        first["label_fixes_before"] == sum(1 for v in read_jsonl(run / "iter_01/judge/verdicts.jsonl") if v["verdict"] == "LABEL_WRONG") > 0
    )
