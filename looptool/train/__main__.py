"""`python -m looptool.train`: run the trainer stage by hand (what `looptool train` calls).

Usage: python -m looptool.train --dataset D_j.parquet|.jsonl --init-model DIR --work-dir DIR
                                [--config run.toml]   (its [train] table; defaults otherwise)
Exit codes: 0 trained (prints the model dir), 2 bad config or pre-flight, 3 trainer failed.
"""

from __future__ import annotations

import argparse
import sys
import tomllib
from pathlib import Path

import anyio
from pydantic import ValidationError

from looptool.train.config import TrainSettings
from looptool.train.preflight import PreflightError
from looptool.train.process import TrainerFailed
from looptool.train.runner import run_training


def load_settings(path: Path | None) -> TrainSettings:
    """The [train] table of a TOML file (or the whole file if it has no [train] table)."""
    if path is None:
        return TrainSettings()
    with open(path, "rb") as handle:
        data = tomllib.load(handle)
    table = data.get("train", data)
    try:
        return TrainSettings.model_validate(table)
    except ValidationError as exc:
        lines = [f"{path}: [train].{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise SystemExit("\n".join(lines)) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m looptool.train", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--config", type=Path)
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument("--init-model", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, required=True)
    args = parser.parse_args(argv)
    try:
        settings = load_settings(args.config)
    except SystemExit as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        result = anyio.run(lambda: run_training(settings, args.dataset, args.init_model, args.work_dir))
    except PreflightError as exc:
        print(exc, file=sys.stderr)
        return 2
    except TrainerFailed as exc:
        print(exc, file=sys.stderr)
        return 3
    print(result.model_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
