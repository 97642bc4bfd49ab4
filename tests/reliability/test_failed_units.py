"""Issue 12.2: units that fail on transient errors are never lost.

A stage with failed units is not finished: the manifest records it as incomplete with its failed
count and cause, `looptool status` shows both, and a rerun retries exactly those units. Only
`--allow-partial` lets the next stage go on, and the manifest then marks the stage partial.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from looptool.config import load_config
from looptool.errors import StageIncomplete
from looptool.sim import SimServer, SimSettings
from looptool.sim.settings import FaultPlan
from looptool.store import ResumePolicy, read_json, read_jsonl
from looptool.synth.seed import build_seed

from support import url_config

pytestmark = pytest.mark.anyio

FLAKY = SimSettings(seed=3, faults=FaultPlan(rates={"503": 0.3}))
ONE_ATTEMPT = "[client.retry]\nmax_attempts = 1"


async def test_failed_units_leave_the_stage_incomplete_and_a_rerun_retries_exactly_them(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    async with SimServer(FLAKY.model_copy(deep=True)) as sim:
        config = load_config(url_config(tmp_path, sim.base_url, apis=40, client=ONE_ATTEMPT))
        with pytest.raises(StageIncomplete) as raised:
            await build_seed(config, "pool")
        run = tmp_path / "run"
        manifest = read_json(run / "manifest.json")
        assert "seed/apis" not in manifest["stages"], "a stage with failed units is not finished"
        assert "seed/pool" not in manifest["stages"] and "seed/pool" not in manifest.get("started", {}), "the next stage does not run"
        failed_ids = {e["id"] for e in read_jsonl(run / "seed/apis/errors.jsonl")}
        done_before = (run / "seed/apis/specs.jsonl").read_bytes()
        done_ids = {r["id"] for r in read_jsonl(run / "seed/apis/specs.jsonl")}
        assert failed_ids and not failed_ids & done_ids and len(failed_ids | done_ids) == 40
        record = manifest["incomplete"]["seed/apis"]
        assert record["failed"] == len(failed_ids)
        assert record["causes"] == {"retries_exhausted:http_503": len(failed_ids)}
        assert sim.base_url in record["cause"] and "503" in record["cause"], "the cause names what failed and where"
        assert f"{len(failed_ids)} units failed" in str(raised.value)

        from looptool.status import print_status

        capsys.readouterr()
        assert print_status(run) == 0
        shown = capsys.readouterr().out
        assert (
            "seed/apis" in shown
            and "incomplete" in shown
            and f"failed={len(failed_ids)}" in shown
            and "retries_exhausted:http_503" in shown
        )

        sim.state.settings = SimSettings(seed=3)  # the outage is over
        before = sim.state.stats["requests"]
        await build_seed(config, "pool")
        assert sim.state.stats["requests"] - before == len(failed_ids), "exactly the failed units are asked again"
    manifest = read_json(run / "manifest.json")
    assert "seed/apis" in manifest["stages"] and "seed/apis" not in manifest.get("incomplete", {})
    assert "partial" not in manifest["stages"]["seed/apis"]
    after = (run / "seed/apis/specs.jsonl").read_bytes()
    assert after.startswith(done_before), "records written before are kept as they were"
    ids = [r["id"] for r in read_jsonl(run / "seed/apis/specs.jsonl")]
    assert len(ids) == len(set(ids)) == 40
    assert set(ids) - done_ids == failed_ids


async def test_allow_partial_goes_on_and_the_manifest_says_so(tmp_path: Path) -> None:
    async with SimServer(FLAKY.model_copy(deep=True)) as sim:
        config = load_config(url_config(tmp_path, sim.base_url, apis=40, client=ONE_ATTEMPT))
        await build_seed(config, "pool", ResumePolicy(allow_partial=True))
    manifest = read_json(tmp_path / "run/manifest.json")
    failed = len(read_jsonl(tmp_path / "run/seed/apis/errors.jsonl"))
    assert failed > 0
    assert manifest["stages"]["seed/apis"]["partial"]["failed"] == failed
    assert "seed/pool" in manifest["stages"], "the next stage ran on the partial one"


async def test_a_stage_that_stops_on_its_own_error_shows_why(tmp_path: Path) -> None:
    async with SimServer(SimSettings()) as sim:
        config = load_config(url_config(tmp_path, sim.base_url, apis=0))
        with pytest.raises(Exception, match="tool pool is empty"):
            await build_seed(config, "dialogs")
    record = read_json(tmp_path / "run/manifest.json")["incomplete"]["seed/dialogs"]
    assert "tool pool is empty" in record["cause"]
