"""The one stage executor: skip finished stages, record finished / incomplete, keep the value."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from looptool.errors import StageError, StageIncomplete, TransientLLMError
from looptool.stages import FunctionStage, Stage, StageContext, StageOutcome, run_stage
from looptool.store import JsonlWriter, RunStore
from looptool.units import run_units

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_finished_stage_is_skipped_and_returns_its_recorded_counts(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    calls = []

    async def body() -> dict[str, Any]:
        calls.append(1)
        return {"made": 3}

    assert await run_stage(FunctionStage("a/b", "A", body), StageContext(store)) == {"made": 3}
    assert store.stage_info("a/b")["counts"] == {"made": 3}
    assert await run_stage(FunctionStage("a/b", "A", body), StageContext(store)) == {"made": 3}
    assert calls == [1]


async def test_value_and_info_of_a_stage_reach_the_caller_and_the_manifest(tmp_path: Path) -> None:
    class Made(Stage):
        key, title = "iter_01/train", "training"

        async def run(self, ctx: StageContext) -> StageOutcome:
            return StageOutcome(counts={"steps": 2}, info={"model_dir": "/m"}, value=Path("/m"))

        def skipped(self, info: dict[str, Any], ctx: StageContext) -> Path:
            return Path(info["model_dir"])

    store = RunStore(tmp_path)
    assert await run_stage(Made(), StageContext(store)) == Path("/m")
    assert store.stage_info("iter_01/train")["model_dir"] == "/m"
    assert await run_stage(Made(), StageContext(store)) == Path("/m")  # skipped: the recorded value


async def _one_failed_unit(tmp_path: Path, store: RunStore) -> dict[str, Any]:
    async def work(unit_id: str, unit: int) -> dict[str, Any]:
        if unit == 1:
            raise TransientLLMError("503", status=503)
        return {"v": unit}

    with JsonlWriter(tmp_path / "out.jsonl") as out:
        await run_units([("u0", 0), ("u1", 1)], work, out=out, concurrency=1)
    return {"done": 1}


async def test_a_stage_with_a_failed_unit_is_incomplete_and_not_skipped_on_rerun(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    stage = FunctionStage("s", "S", lambda: _one_failed_unit(tmp_path, store))
    with pytest.raises(StageIncomplete):
        await run_stage(stage, StageContext(store))
    assert store.stage_info("s") is None and store.incomplete_info("s")["failed"] == 1


async def test_a_stage_whose_failed_units_count_as_wrong_is_finished(tmp_path: Path) -> None:
    store = RunStore(tmp_path)
    stage = FunctionStage("s", "S", lambda: _one_failed_unit(tmp_path, store), units_must_complete=False)
    assert await run_stage(stage, StageContext(store)) == {"done": 1}
    assert store.stage_info("s")["counts"] == {"done": 1}


async def test_a_stage_that_stops_on_its_own_error_is_recorded_incomplete_with_the_cause(tmp_path: Path) -> None:
    store = RunStore(tmp_path)

    async def body() -> dict[str, Any]:
        raise StageError("the seed set is empty")

    with pytest.raises(StageError):
        await run_stage(FunctionStage("s", "S", body), StageContext(store))
    assert "the seed set is empty" in store.incomplete_info("s")["cause"]


def test_unknown_stage_options_are_refused() -> None:
    async def body() -> dict[str, Any]:
        return {}

    with pytest.raises(TypeError, match="unknown stage option"):
        FunctionStage("s", "S", body, must_complete=False)
