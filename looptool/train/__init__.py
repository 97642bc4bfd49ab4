"""Trainer stage: the iteration's dataset and previous model in, a Hugging Face model out.

Backends run as subprocesses in their own runtime envs (verl for GPU clusters, TRL for a single
node / CPU); nothing here imports torch, verl or trl. See docs/training.md.
"""

from looptool.train.config import GRPOSettings, TrainSettings, TrlSettings, VerlSettings
from looptool.train.parquet import ParquetReport, write_verl_parquet
from looptool.train.preflight import PreflightError
from looptool.train.process import TrainerFailed
from looptool.train.runner import TrainResult, run_training

__all__ = [
    "GRPOSettings",
    "ParquetReport",
    "PreflightError",
    "TrainResult",
    "TrainSettings",
    "TrainerFailed",
    "TrlSettings",
    "VerlSettings",
    "run_training",
    "write_verl_parquet",
]
