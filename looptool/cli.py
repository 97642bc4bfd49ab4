"""Command line: `looptool <command> --help` for each command.

Every command that takes a config validates it fully before doing any work, so a typo costs a
second, not an hour of generation.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import anyio

from rich.markup import escape

from looptool.config.load import LoadedConfig, load_config_or_preset
from looptool.errors import ConfigError, LoopToolError
from looptool.ui import console

COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]] = {}


def command(name: str, help_text: str):
    def register(pair: tuple[Callable[[argparse.ArgumentParser], None], Callable[[argparse.Namespace], int]]):
        COMMANDS[name] = (help_text, pair[0], pair[1])
        return pair

    return register


def _config_arg(parser: argparse.ArgumentParser, required: bool = False) -> None:
    from looptool.presets import presets_help

    parser.add_argument(
        "config",
        nargs=None if required else "?",
        help="run config (TOML) or a preset name; omitted: the embedded quickstart (local vLLM CPU + TRL)"
        if not required
        else "run config (TOML)",
    )
    parser.epilog = presets_help()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def load(config_arg: str | None) -> LoadedConfig:
    """A config path or a preset name (None: the quickstart); kept here for the commands."""
    return load_config_or_preset(config_arg)


# -- sim ---------------------------------------------------------------------------------------
def _sim_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8089, help="0 picks a free port (see --ready-file)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--jitter-ms", type=float, default=0.0)
    parser.add_argument("--wrong-call-rate", type=float, default=0.0, help="for every model name without a profile")
    parser.add_argument("--malformed-rate", type=float, default=0.0)
    parser.add_argument("--judge-error-rate", type=float, default=0.0)
    parser.add_argument(
        "--fault", action="append", default=[], metavar="KIND=RATE", help="e.g. 429=0.05 (kinds: 500 502 503 429 timeout drop truncate)"
    )
    parser.add_argument("--retry-after", type=float, default=1.0)
    parser.add_argument("--settings", help="JSON file with full simulator settings (overrides the flags)")
    parser.add_argument("--ready-file", help="write the base URL here once listening")


def _sim_run(args: argparse.Namespace) -> int:
    from looptool.sim.server import serve_forever
    from looptool.sim.settings import FaultPlan, ModelProfile, SimSettings

    if args.settings:
        settings = SimSettings.model_validate_json(Path(args.settings).read_text())
    else:
        rates = {}
        for item in args.fault:
            kind, _, rate = item.partition("=")
            rates[kind] = float(rate)
        settings = SimSettings(
            seed=args.seed,
            latency_ms=args.latency_ms,
            latency_jitter_ms=args.jitter_ms,
            default_profile=ModelProfile(
                wrong_call_rate=args.wrong_call_rate, malformed_rate=args.malformed_rate, judge_error_rate=args.judge_error_rate
            ),
            faults=FaultPlan(rates=rates, retry_after_s=args.retry_after),
        )
    try:
        run_async(serve_forever, settings, args.host, args.port, args.ready_file)
    except KeyboardInterrupt:
        pass
    return 0


command("sim", "serve the built-in OpenAI-compatible simulator (tests and dry runs; not a model)")((_sim_args, _sim_run))


# -- check -------------------------------------------------------------------------------------
def _check_args(parser: argparse.ArgumentParser) -> None:
    _config_arg(parser)
    parser.add_argument("--json", action="store_true", help="print the resolved config as JSON")


def _check_run(args: argparse.Namespace) -> int:
    loaded = load(args.config)
    if args.json:
        print(json.dumps(loaded.config.model_dump(mode="json"), indent=2))
    else:
        console.print(
            f"[green]ok[/green] {loaded.source}: {len(loaded.config.endpoints)} endpoints, roles: {', '.join(sorted(loaded.config.roles))}"
        )
    return 0


command("check", "validate a run config (and its role cards and prompts) without calling anything")((_check_args, _check_run))


# -- status ------------------------------------------------------------------------------------
def _status_args(parser: argparse.ArgumentParser) -> None:
    from looptool.presets import presets_help

    parser.add_argument("run", nargs="?", help="run directory, config file or preset name; omitted: the quickstart's run directory")
    parser.epilog = presets_help()
    parser.formatter_class = argparse.RawDescriptionHelpFormatter


def _status_run(args: argparse.Namespace) -> int:
    from looptool.status import print_status, resolve_run_dir

    return print_status(resolve_run_dir(args.run))


command("status", "show which stages of a run are finished and what they produced")((_status_args, _status_run))


def build_parser() -> argparse.ArgumentParser:
    _register_stage_commands()
    parser = argparse.ArgumentParser(prog="looptool", description="LoopTool closed-loop tool-calling training engine")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (help_text, add_args, _) in COMMANDS.items():
        add_args(sub.add_parser(name, help=help_text, description=help_text))
    return parser


def _version() -> str:
    from looptool import __version__

    return f"looptool {__version__}"


def _register_stage_commands() -> None:
    """Stage commands live next to their stages; importing registers them."""
    import importlib

    for module in ("looptool.commands",):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise


def run_async(function, *args):
    """anyio.run, but SIGTERM and SIGINT cancel the work in a structured way: every `async with`
    unwinds (local vLLM servers stopped, files closed) before the process exits."""
    import signal

    async def supervised():
        interrupted = False
        result = None
        async with anyio.create_task_group() as group:

            async def watch() -> None:
                nonlocal interrupted
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        interrupted = True
                        group.cancel_scope.cancel()
                        return

            group.start_soon(watch)
            result = await function(*args)
            group.cancel_scope.cancel()
        if interrupted:
            raise KeyboardInterrupt
        return result

    try:
        return anyio.run(supervised)
    except BaseExceptionGroup as group:
        raise _single(group) from None


def _single(error: BaseException) -> BaseException:
    """The one real error inside task-group wrappers, so callers can catch it by type."""
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return error


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help (0) or a usage error (2): a return code, never an exception
        return stop.code if isinstance(stop.code, int) else 2
    if not args.command:
        parser.print_help()
        return 2
    _, _, run = COMMANDS[args.command]
    try:
        return run(args)
    except ConfigError as error:
        console.print(f"[red]config error[/red] {escape(str(error))}")
        return 2
    except LoopToolError as error:
        console.print(f"[red]error[/red] {escape(str(error))}")
        return 1
    except OSError as error:  # the file system refused (disk full, read-only, permissions)
        where = f"{error.filename}: " if error.filename else ""
        console.print(f"[red]error[/red] {escape(where + (error.strerror or str(error)))}")
        return 1
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/yellow]: finished work is on disk; rerun the same command to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())
