"""`looptool eval bfcl`: score an endpoint of a run config on the offline BFCL categories.

    looptool eval bfcl run.toml --endpoint vllm_policy --format native --limit 20
    looptool eval bfcl run.toml                     # the endpoint(s) of role "policy"
    looptool eval bfcl-selfcheck --format native    # the evaluator against BFCL's own ground truth
    looptool eval acebench run.toml --endpoint vllm_policy   # ACEBench (looptool.eval.acebench_command)

The output folder (default `<run dir>/eval/bfcl/<endpoint or role>-<format>`) holds the
per-item results and the score table; running the same command again resumes an interrupted
evaluation and re-prints a finished one without calling the model again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import anyio
from pydantic import ValidationError

from looptool.config.load import LoadedConfig
from looptool.config.models import RoleConfig
from looptool.errors import ConfigError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Wire `eval` and its `bfcl` subcommand into `parser` (the `looptool eval` parser)."""
    benchmarks = parser.add_subparsers(dest="benchmark", metavar="BENCHMARK", required=True)
    bfcl = benchmarks.add_parser(
        "bfcl",
        help="Berkeley Function Calling Leaderboard, offline categories",
        description="Score a model behind an OpenAI-compatible endpoint on BFCL (bfcl-eval data and checkers).",
    )
    bfcl.add_argument("config", nargs="?", help="run config (TOML) naming the endpoint; omitted: the quickstart preset")
    target = bfcl.add_mutually_exclusive_group()
    target.add_argument("--endpoint", help="evaluate this endpoint of the config")
    target.add_argument("--role", help="evaluate the endpoint(s) of this role (default: policy)")
    bfcl.add_argument("--out", help="output folder; rerun with the same folder to resume")
    bfcl.add_argument(
        "--categories",
        default="all",
        help="comma-separated categories or groups (all, single_turn, non_live, live, multi_turn, ast); default all",
    )
    bfcl.add_argument("--limit", type=int, help="first N items of each category (smoke test)")
    bfcl.add_argument("--ids", help="comma-separated item ids to evaluate")
    bfcl.add_argument(
        "--format",
        choices=("paper", "native"),
        default="paper",
        help="paper: the project's prompt (Fig. 7); native: the model's own tool format via OpenAI `tools`",
    )
    bfcl.add_argument("--concurrency", type=int, default=32, help="items in flight (the endpoint's own limit still applies)")
    bfcl.add_argument("--max-tokens", type=int, help="answer token limit per request (default: the server's)")
    bfcl.add_argument("--temperature", type=float, default=0.0)
    bfcl.add_argument("--bfcl-python", help="interpreter of the bfcl runtime (default: the 'bfcl' runtime env)")
    bfcl.add_argument("--cache-salt", help="keeps cached answers of another checkpoint served under the same name apart")
    bfcl.add_argument("--json", action="store_true", help="end with the headline numbers as one JSON object instead of the table")

    check = benchmarks.add_parser(
        "bfcl-selfcheck",
        help="check the BFCL evaluator: the simulator answers with BFCL's ground truth",
        description="Evaluate the built-in simulator answering with BFCL's own ground truth; every item must pass "
        "except the known data bugs (looptool.eval.selfcheck). Exit code 1 on any other failure.",
    )
    check.add_argument("--out", default="bfcl-selfcheck", help="output folder (default ./bfcl-selfcheck); resumable")
    check.add_argument("--format", choices=("paper", "native"), default="paper")
    check.add_argument("--categories", default="all", help="comma-separated categories or groups (default all)")
    check.add_argument("--limit", type=int, help="first N items of each category")
    check.add_argument("--bfcl-python", help="interpreter of the bfcl runtime (default: the 'bfcl' runtime env)")
    add_acebench_arguments(benchmarks)


def add_acebench_arguments(benchmarks: argparse._SubParsersAction) -> None:
    from looptool.eval.acebench_command import add_arguments as add_acebench

    add_acebench(benchmarks)


def with_endpoint_as_policy(loaded: LoadedConfig, endpoint: str) -> LoadedConfig:
    """The config with role `policy` pointing at `endpoint` (and no other role)."""
    config = loaded.config
    if endpoint not in config.endpoints:
        known = ", ".join(sorted(config.endpoints)) or "none"
        raise ConfigError(loaded.source, "--endpoint", f"unknown endpoint {endpoint!r}; defined: {known}")
    roles = {"policy": RoleConfig(endpoints=[endpoint])}
    return dataclasses.replace(loaded, config=config.model_copy(update={"roles": roles}))


def _settings(args: argparse.Namespace):
    from looptool.eval.bfcl import BfclEvalSettings

    values = {
        "categories": [c for c in args.categories.split(",") if c.strip()],
        "limit": args.limit,
        "ids": [i.strip() for i in args.ids.split(",") if i.strip()] if args.ids else None,
        "format": args.format,
        "concurrency": args.concurrency,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "python": args.bfcl_python,
        "cache_salt": args.cache_salt,
    }
    try:
        return BfclEvalSettings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        option = "--" + str(error["loc"][0]).replace("_", "-") if error.get("loc") else "arguments"
        raise ConfigError("looptool eval bfcl", option, str(error["msg"]).removeprefix("Value error, ")) from None


def _selfcheck(args: argparse.Namespace) -> int:
    from looptool.eval.categories import resolve_categories
    from looptool.eval.selfcheck import CONTRADICTORY, UNPASSABLE, oracle_selfcheck

    try:
        categories = resolve_categories(args.categories.split(","))
    except ValueError as exc:
        raise ConfigError("looptool eval bfcl-selfcheck", "--categories", str(exc)) from None
    python = Path(args.bfcl_python) if args.bfcl_python else None
    result = anyio.run(lambda: oracle_selfcheck(Path(args.out), fmt=args.format, categories=categories, limit=args.limit, python=python))
    print(result.report.markdown)
    for item_id, error_type in sorted(result.failures.items()):
        why = UNPASSABLE.get(item_id) or (f"contradicts {CONTRADICTORY[item_id]}" if item_id in CONTRADICTORY else "UNEXPECTED")
        print(f"failed {item_id} ({error_type}): {why}")
    if result.unexpected:
        print(f"{len(result.unexpected)} unexpected failures: the evaluator (or bfcl-eval) changed; see {args.out}/eval/results.jsonl")
        return 1
    print(f"ok: only the {len(result.failures)} known data bugs fail")
    return 0


def run(args: argparse.Namespace) -> int:
    """Run the selected benchmark; returns the process exit code."""
    if args.benchmark == "bfcl-selfcheck":
        return _selfcheck(args)
    if args.benchmark in ("acebench", "acebench-selfcheck"):
        from looptool.eval.acebench_command import run_acebench

        return run_acebench(args)
    if args.benchmark != "bfcl":
        raise ConfigError(
            "looptool eval", args.benchmark, "unknown benchmark; available: bfcl, bfcl-selfcheck, acebench, acebench-selfcheck"
        )
    from looptool.cli import load
    from looptool.eval.bfcl import evaluate_bfcl
    from looptool.session import EngineSession

    settings = _settings(args)
    loaded = load(args.config)
    if args.endpoint:
        loaded, role, name = with_endpoint_as_policy(loaded, args.endpoint), "policy", args.endpoint
    else:
        role = args.role or "policy"
        loaded.require_roles([role])
        name = role
    out = Path(args.out) if args.out else loaded.run_dir / "eval" / "bfcl" / f"{name}-{settings.format}"

    async def evaluate():
        async with EngineSession(loaded, roles=[role], cache_path=out / "llm_cache.sqlite") as session:
            assert session.client is not None
            return await evaluate_bfcl(session.client, role, out, settings)

    report = anyio.run(evaluate)
    if args.json:
        print(json.dumps(report.headline, indent=2))
    else:
        print(report.markdown)
        print(f"results: {out}")
    return 0
