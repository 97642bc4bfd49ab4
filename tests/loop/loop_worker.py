"""Run the whole pipeline with the trainer double in a separate process, so tests can SIGKILL it.

While the file named by LOOPTOOL_TEST_BLOCK_TRAINING exists, the double announces that training
started (a marker file) and then blocks, giving the test a deterministic moment to kill it in the
train stage.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio

sys.path.insert(0, str(Path(__file__).parent))
from loop_support import RecordedCheckpointTrainer, recorded_checkpoint

from looptool.config import load_config
from looptool.pipeline import run_all


class BlockableTrainer(RecordedCheckpointTrainer):
    async def __call__(self, settings, dataset, init_model, work_dir, *, console=None):
        block = Path(os.environ.get("LOOPTOOL_TEST_BLOCK_TRAINING", "/nonexistent"))
        (Path(work_dir) / "training-started").write_text("1")
        if block.exists():
            await anyio.sleep_forever()
        return await super().__call__(settings, dataset, init_model, work_dir, console=console)


def main(config: str) -> None:
    trainer = BlockableTrainer(recorded_checkpoint(Path(config).parent))
    anyio.run(lambda: run_all(load_config(config), trainer=trainer))


if __name__ == "__main__":
    main(sys.argv[1])
