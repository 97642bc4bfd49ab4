#!/usr/bin/env python
"""ToolMatch throughput on BFCL's ground truth, one process (= one core).

A verl reward worker scores every rollout with compute_score, so the reward must stay far
below the cost of generating the text. This builds one correct and one wrong completion per
BFCL entry of the 8 Python AST categories (oracle calls from the first acceptable values;
the wrong one changes a value), then times:

  compute_score   the verl entry point on completion text (parse + reward-mode match,
                  tools from extra_info as a JSON string, cached per tool list)
  reward/calls    toolmatch reward mode on already parsed calls
  bfcl            toolmatch bfcl mode against BFCL ground truth

Target: compute_score over 20,000 comparisons/s. Usage:
  python scripts/bench_toolmatch.py [--data BFCL_DATA_DIR] [--rounds 5]
BFCL data is found in the current interpreter's bfcl_eval or in the bfcl runtime env.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from looptool.paths import runtime_env_dir
from looptool.tools.calls import ToolCall
from looptool.tools.match import toolmatch
from looptool.tools.render import render_calls_text
from looptool.tools.reward import compute_score
from looptool.tools.spec import tool_index

CATEGORIES = (
    "simple_python",
    "multiple",
    "parallel",
    "parallel_multiple",
    "live_simple",
    "live_multiple",
    "live_parallel",
    "live_parallel_multiple",
)
TARGET = 20_000


def find_data(explicit: str | None) -> Path:
    if explicit:
        return Path(explicit)
    try:
        import bfcl_eval

        return Path(bfcl_eval.__file__).parent / "data"
    except ImportError:
        pass
    found = sorted(runtime_env_dir("bfcl").glob("lib/python*/site-packages/bfcl_eval/data"))
    if not found:
        sys.exit(f"BFCL data not found: pass --data or build the bfcl env (scripts/setup_bfcl.sh); looked in {runtime_env_dir('bfcl')}")
    return found[0]


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def oracle_calls(docs: list[dict], gt: list[dict]) -> list[ToolCall]:
    """First acceptable value per argument; optional ones ("" allowed, not required) omitted."""
    calls = []
    for answer in gt:
        name, params = next(iter(answer.items()))
        doc = next(d for d in docs if d["name"] == name)
        required = set(doc["parameters"].get("required", []))
        args = {}
        for param, acceptable in params.items():
            values = [a for a in acceptable if a != ""]
            if values and ("" not in acceptable or param in required):
                value = values[0]
                if isinstance(value, dict):  # nested acceptable lists
                    value = {k: [a for a in v if a != ""][0] for k, v in value.items() if [a for a in v if a != ""]}
                args[param] = value
        calls.append(ToolCall(name, args))
    return calls


def broken(calls: list[ToolCall]) -> list[ToolCall]:
    out = copy.deepcopy(calls)
    for call in out:
        for key, value in call.arguments.items():
            call.arguments[key] = f"{value}x" if isinstance(value, str) else [value]
            return out
    return out + out[:1]


def best_rate(fn, cases: list, rounds: int) -> tuple[float, float]:
    """(comparisons/s, seconds per round) of the fastest round; the first round warms caches."""
    fn(cases)
    best = float("inf")
    for _ in range(rounds):
        start = time.perf_counter()
        fn(cases)
        best = min(best, time.perf_counter() - start)
    return len(cases) / best, best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", help="bfcl_eval/data directory")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    data = find_data(args.data)

    text_cases, call_cases, bfcl_cases = [], [], []
    for category in CATEGORIES:
        answers = {r["id"]: r["ground_truth"] for r in rows(data / "possible_answer" / f"BFCL_v4_{category}.json")}
        for entry in rows(data / f"BFCL_v4_{category}.json"):
            docs, gt = entry["function"], answers[entry["id"]]
            good = oracle_calls(docs, gt)
            label = json.dumps([c.to_dict() for c in good])
            extra = {"tools": json.dumps(docs)}
            index = tool_index(docs)
            for pred in (good, broken(good)):
                text = "<think>The user wants this.</think>\n" + render_calls_text(pred)
                text_cases.append((text, label, extra))
                call_cases.append((pred, good, index))
                bfcl_cases.append((pred, gt, docs, category))
    n_calls = sum(len(c[1]) for c in call_cases)

    def run_compute_score(cases):
        return sum(compute_score("bfcl", text, label, extra)["score"] for text, label, extra in cases)

    def run_reward(cases):
        return sum(toolmatch(pred, good, index).matched for pred, good, index in cases)

    def run_bfcl(cases):
        return sum(toolmatch(pred, gt, docs, mode="bfcl", category=cat).matched for pred, gt, docs, cat in cases)

    print(
        f"BFCL ground truth: {len(call_cases) // 2} entries x 2 completions = {len(call_cases)} comparisons, "
        f"{n_calls} expected calls; best of {args.rounds} rounds, one process"
    )
    print(f"{'path':<16}{'comparisons/s':>15}{'calls/s':>12}{'s/round':>10}{'matched':>9}")
    results = {}
    for name, fn, cases in (
        ("compute_score", run_compute_score, text_cases),
        ("reward/calls", run_reward, call_cases),
        ("bfcl", run_bfcl, bfcl_cases),
    ):
        rate, seconds = best_rate(fn, cases, args.rounds)
        results[name] = rate
        print(f"{name:<16}{rate:>15,.0f}{rate * n_calls / len(cases):>12,.0f}{seconds:>10.3f}{int(fn(cases)):>9}")
    verdict = "meets" if results["compute_score"] >= TARGET else "MISSES"
    print(f"compute_score {verdict} the target of {TARGET:,} comparisons/s on one core")
    if results["compute_score"] < TARGET:
        sys.exit(1)


if __name__ == "__main__":
    main()
