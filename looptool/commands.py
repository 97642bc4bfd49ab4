"""Stage commands (synth, run, ...), registered into looptool.cli on import."""

from __future__ import annotations

import argparse

import anyio

from looptool.cli import _config_arg, command, load


def _synth_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("through", choices=["apis", "pool", "dialogs", "verify", "samples"], help="run seed construction up to and including this stage")
    _config_arg(parser)


def _synth_run(args: argparse.Namespace) -> int:
    from looptool.synth.seed import build_seed

    loaded = load(args.config)
    anyio.run(build_seed, loaded, args.through)
    return 0


command("synth", "seed construction: API synthesis, tool pool, dialogs, verification, step samples")((_synth_args, _synth_run))


def _run_args(parser: argparse.ArgumentParser) -> None:
    _config_arg(parser)


def _run_run(args: argparse.Namespace) -> int:
    from looptool.pipeline import run_all

    loaded = load(args.config)
    anyio.run(run_all, loaded)
    return 0


command("run", "run the LoopTool loop (seed construction, then iterations) for a config")((_run_args, _run_run))
