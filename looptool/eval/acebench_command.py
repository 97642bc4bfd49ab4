"""`looptool eval acebench`: score an endpoint of a run config on ACEBench (paper Table 2).

    looptool eval acebench run.toml --endpoint vllm_policy                  # English, ACEBench's format
    looptool eval acebench run.toml --format native --language zh --limit 5
    looptool eval acebench run.toml --categories normal,special             # no simulated user needed
    looptool eval acebench-selfcheck --format native                        # the simulator answers the ground truth

agent_multi_turn needs ACEBench's simulated user: the config's `user` role, or --user-endpoint.
The output folder (default `<run dir>/eval/acebench/<endpoint or role>-<language>-<format>`)
holds the per-item results and the Table 2 scores; running the same command again resumes an
interrupted evaluation and re-prints a finished one without calling the model again.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from pydantic import ValidationError

from looptool.config.load import LoadedConfig
from looptool.config.models import RoleConfig
from looptool.errors import ConfigError

USER_ROLE = "user"


def add_arguments(benchmarks: argparse._SubParsersAction) -> None:
    ace = benchmarks.add_parser(
        "acebench",
        help="ACEBench (normal, special, agent), English or Chinese",
        description="Score a model behind an OpenAI-compatible endpoint on ACEBench (data shipped with looptool).",
    )
    ace.add_argument("config", nargs="?", help="run config (TOML) naming the endpoint; omitted: the quickstart preset")
    target = ace.add_mutually_exclusive_group()
    target.add_argument("--endpoint", help="evaluate this endpoint of the config")
    target.add_argument("--role", help="evaluate the endpoint(s) of this role (default: policy)")
    ace.add_argument("--user-endpoint", help="endpoint that plays ACEBench's simulated user (default: the config's 'user' role)")
    ace.add_argument("--out", help="output folder; rerun with the same folder to resume")
    ace.add_argument(
        "--categories",
        default="all",
        help="comma-separated categories or groups (all, normal, atom, single_turn, multi_turn, special, agent); default all",
    )
    ace.add_argument("--language", choices=("en", "zh"), default="en")
    ace.add_argument("--limit", type=int, help="first N items of each category (dialogs for the normal multi-turn ones)")
    ace.add_argument("--ids", help="comma-separated item ids to evaluate")
    ace.add_argument(
        "--format",
        choices=("acebench", "native"),
        default="acebench",
        help="acebench: ACEBench's prompt and [ApiName(key='value')] answers; native: OpenAI `tools`",
    )
    ace.add_argument("--concurrency", type=int, default=32, help="items in flight (the endpoint's own limit still applies)")
    ace.add_argument("--max-tokens", type=int, help="answer token limit per request (default: the server's)")
    ace.add_argument("--temperature", type=float, default=0.0)
    ace.add_argument("--data-dir", help="another copy of ACEBench's data_all/ (default: the copy shipped with looptool)")
    ace.add_argument("--cache-salt", help="keeps cached answers of another checkpoint served under the same name apart")
    ace.add_argument("--json", action="store_true", help="end with the Table 2 numbers as one JSON object instead of the table")

    check = benchmarks.add_parser(
        "acebench-selfcheck",
        help="check the ACEBench evaluator: the simulator answers with ACEBench's ground truth",
        description="Evaluate the built-in simulator answering with ACEBench's ground truth and print the scores and every "
        "failing item (looptool.eval.acebench_selfcheck; docs/eval.md says why they fail).",
    )
    check.add_argument("--out", default="acebench-selfcheck", help="output folder (default ./acebench-selfcheck); resumable")
    check.add_argument("--format", choices=("acebench", "native"), default="acebench")
    check.add_argument("--language", choices=("en", "zh"), default="en")
    check.add_argument("--categories", default="all")
    check.add_argument("--limit", type=int)


def _settings(args: argparse.Namespace):
    from looptool.eval.acebench_settings import AceBenchEvalSettings

    values = {
        "categories": [c for c in args.categories.split(",") if c.strip()],
        "language": args.language,
        "limit": args.limit,
        "ids": [i.strip() for i in args.ids.split(",") if i.strip()] if args.ids else None,
        "format": args.format,
        "concurrency": args.concurrency,
        "max_tokens": args.max_tokens,
        "temperature": args.temperature,
        "data_dir": args.data_dir,
        "cache_salt": args.cache_salt,
    }
    try:
        return AceBenchEvalSettings(**values)
    except ValidationError as exc:
        error = exc.errors()[0]
        option = "--" + str(error["loc"][0]).replace("_", "-") if error.get("loc") else "arguments"
        raise ConfigError("looptool eval acebench", option, str(error["msg"]).removeprefix("Value error, ")) from None


def with_endpoints(loaded: LoadedConfig, endpoint: str | None, user_endpoint: str | None, role: str) -> LoadedConfig:
    """The config with role `role` (policy) on `endpoint` and role `user` on `user_endpoint`;
    roles not given keep the config's mapping."""
    config = loaded.config
    roles = dict(config.roles)
    for option, name, target in (("--endpoint", endpoint, role), ("--user-endpoint", user_endpoint, USER_ROLE)):
        if name is None:
            continue
        if name not in config.endpoints:
            known = ", ".join(sorted(config.endpoints)) or "none"
            raise ConfigError(loaded.source, option, f"unknown endpoint {name!r}; defined: {known}")
        roles[target] = RoleConfig(endpoints=[name])
    return dataclasses.replace(loaded, config=config.model_copy(update={"roles": roles}))


def _selfcheck(args: argparse.Namespace) -> int:
    from looptool.eval.acebench_categories import resolve_categories
    from looptool.eval.acebench_selfcheck import acebench_selfcheck

    try:
        categories = resolve_categories(args.categories.split(","))
    except ValueError as exc:
        raise ConfigError("looptool eval acebench-selfcheck", "--categories", str(exc)) from None
    from looptool.cli import run_async

    result = run_async(
        lambda: acebench_selfcheck(Path(args.out), fmt=args.format, language=args.language, categories=categories, limit=args.limit)
    )
    print(result.report.markdown)
    for item_id, verdict in sorted(result.failures.items()):
        print(f"failed {item_id}: {verdict.get('error_type')}: {str(verdict.get('error'))[:160]}")
    print(f"{len(result.failures)} items fail on the ground truth (docs/eval.md lists why)")
    return 0


def run_acebench(args: argparse.Namespace) -> int:
    if args.benchmark == "acebench-selfcheck":
        return _selfcheck(args)
    from looptool.cli import load, run_async
    from looptool.eval.acebench import evaluate_acebench
    from looptool.session import EngineSession

    settings = _settings(args)
    role = "policy" if args.endpoint else (args.role or "policy")
    loaded = with_endpoints(load(args.config), args.endpoint, args.user_endpoint, role)
    loaded.require_roles([role])
    needs_user = "agent_multi_turn" in settings.categories
    if needs_user and USER_ROLE not in loaded.config.roles:
        raise ConfigError(
            loaded.source,
            f"roles.{USER_ROLE}",
            "agent_multi_turn needs ACEBench's simulated user: map the 'user' role, "
            "pass --user-endpoint, or leave agent_multi_turn out of --categories",
        )
    name = args.endpoint or role
    out = Path(args.out) if args.out else loaded.run_dir / "eval" / "acebench" / f"{name}-{settings.language}-{settings.format}"
    roles = [role] + ([USER_ROLE] if needs_user and USER_ROLE != role else [])

    async def evaluate():
        async with EngineSession(loaded, roles=roles, cache_path=out / "llm_cache.sqlite") as session:
            assert session.client is not None
            return await evaluate_acebench(session.client, role, out, settings)

    report = run_async(evaluate)  # SIGTERM/SIGINT unwind the session: a local vLLM server is stopped
    if args.json:
        print(json.dumps(report.headline, indent=2))
    else:
        print(report.markdown)
        print(f"results: {out}")
    return 0
