"""What the stages of one loop iteration read and write: D_i, the probe results, the verdicts.

The loop's stages (probe, judge, expand, compose) live in their own modules and pass data to each
other only through the run directory; this module is the one place that knows where each file
is. It imports no stage module, so every stage module can import it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from looptool.config.load import LoadedConfig
from looptool.errors import StageError
from looptool.samples import StepSample
from looptool.store import RunStore, iter_jsonl, iteration_key
from looptool.store.atomic import atomic_write_lines

SEED_SAMPLES = "seed/samples/samples.jsonl"
# The stage keys inside an iteration (iter_XX/<key>); each stage module names its own from here.
PROBE, JUDGE, EXPAND, COMPOSE, TRAIN, DATASET = "probe", "judge", "expand", "compose", "train", "dataset"


def read_samples(path: Path) -> list[StepSample]:
    return [StepSample.model_validate(r) for r in iter_jsonl(path)]


def write_samples(path: Path, samples: list[StepSample]) -> None:
    """A whole samples file, atomically: a reader never sees half of D_i."""
    atomic_write_lines(path, (sample.model_dump_json() + "\n" for sample in samples))


class IterationData:
    """The files of iteration `iteration` (and the seed pool every iteration draws on)."""

    def __init__(self, loaded: LoadedConfig, store: RunStore, iteration: int) -> None:
        self.loaded = loaded
        self.config = loaded.config
        self.settings = loaded.config.loop
        self.store = store
        self.iteration = iteration

    def key(self, stage: str, iteration: int | None = None) -> str:
        return iteration_key(self.iteration if iteration is None else iteration, stage)

    def dataset_path(self, iteration: int | None = None) -> Path:
        return self.store.path(self.key(DATASET, iteration), "dataset.jsonl")

    def dataset(self, iteration: int | None = None) -> list[StepSample]:
        return read_samples(self.dataset_path(iteration))

    def seed_pool(self) -> list[StepSample]:
        path = self.store.root / SEED_SAMPLES
        if not path.is_file():
            raise StageError(f"{path} is missing: seed construction has not finished")
        return read_samples(path)

    def probes(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in iter_jsonl(self.store.path(self.key(PROBE), "results.jsonl"))}

    def verdicts(self) -> dict[str, dict[str, Any]]:
        return {r["id"]: r for r in iter_jsonl(self.store.path(self.key(JUDGE), "verdicts.jsonl"))}
