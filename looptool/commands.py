"""Stage commands (synth, run, ...), registered into looptool.cli on import."""

from __future__ import annotations

import argparse

from looptool.cli import _config_arg, command, load, run_async


def _resume_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--allow-partial",
        action="store_true",
        help="go on past a stage whose units did not all finish (the manifest marks it partial); default: stop, rerun retries them",
    )
    parser.add_argument(
        "--allow-config-change",
        action="store_true",
        help="resume although the config changed for stages already run (the change is recorded in the manifest)",
    )


def _policy(args: argparse.Namespace):
    from looptool.store import ResumePolicy

    return ResumePolicy(allow_partial=args.allow_partial, allow_config_change=args.allow_config_change)


def _synth_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "through", choices=["apis", "pool", "dialogs", "verify", "samples"], help="run seed construction up to and including this stage"
    )
    _config_arg(parser)
    _resume_args(parser)


def _synth_run(args: argparse.Namespace) -> int:
    from looptool.synth.seed import build_seed

    loaded = load(args.config)
    run_async(build_seed, loaded, args.through, _policy(args))
    return 0


command("synth", "seed construction: API synthesis, tool pool, dialogs, verification, step samples")((_synth_args, _synth_run))


def _run_args(parser: argparse.ArgumentParser) -> None:
    _config_arg(parser)
    _resume_args(parser)


def _run_run(args: argparse.Namespace) -> int:
    from looptool.pipeline import run_all

    loaded = load(args.config)
    run_async(lambda: run_all(loaded, policy=_policy(args)))
    return 0


command("run", "run the LoopTool loop (seed construction, then iterations) for a config")((_run_args, _run_run))


def _train_args(parser: argparse.ArgumentParser) -> None:
    _config_arg(parser)
    parser.add_argument("--dataset", required=True, help="D_j as StepSample JSONL or verl parquet")
    parser.add_argument("--init-model", required=True, help="Hugging Face model directory to start from")
    parser.add_argument("--work-dir", required=True, help="where logs, checkpoints and the trained model go")


def _train_run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from looptool.train.runner import run_training
    from looptool.ui import console, print_stage_summary

    loaded = load(args.config)
    settings = loaded.config.train.with_paths(loaded.base_dir)  # one stage: the warm start applies whenever configured
    result = run_async(lambda: run_training(settings, Path(args.dataset), Path(args.init_model), Path(args.work_dir), console=console))
    print_stage_summary("training", result.stage_counts())
    console.print(f"trained model: {result.model_dir}", markup=False)
    return 0


command("train", "train one iteration (verl or TRL backend, from [train]) on a dataset, from a checkpoint")((_train_args, _train_run))


def _eval_args(parser: argparse.ArgumentParser) -> None:
    from looptool.eval.command import add_arguments

    add_arguments(parser)


def _eval_run(args: argparse.Namespace) -> int:
    from looptool.eval.command import run

    return run(args)


command("eval", "evaluate a served model on benchmarks (BFCL offline categories, ACEBench)")((_eval_args, _eval_run))


def _experiment_args(parser: argparse.ArgumentParser) -> None:
    from looptool.experiment.command import add_arguments

    add_arguments(parser)


def _experiment_run(args: argparse.Namespace) -> int:
    from looptool.experiment.command import run

    return run(args)


command("experiment", "the learning experiment: static vs LoopTool vs Table 4 ablations on a known-truth world (real tiny policy)")(
    (_experiment_args, _experiment_run)
)
