"""Reward pre-flight that runs inside a trainer runtime env (stdlib at import time).

Why: verl imports the custom reward module only when its reward workers start, minutes into a
GPU job, and reports a broken import or a wrong signature as a bare assertion there. This loads
the same file the same way (by path, like verl's load_extern_object), calls it on every row of
the parquet with the row's reference answer rendered as model text, and checks what verl
requires of the return value (a float, or a dict with "score" and the same keys for every row).
A reference answer scoring 0 means label and reward disagree for that row; the ids are reported.

Usage: python -m looptool.train.reward_check REWARD_FILE FUNCTION_NAME DATASET.parquet
Prints one JSON line: {"ok": true, "rows": N, "reference_misses": [ids], "keys": [...]} or
{"ok": false, "error": "..."}.
"""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import json
import sys

TEXT_ANSWER = "I cannot do that with the tools available."


def _load(path: str, name: str):
    spec = importlib.util.spec_from_file_location("looptool_reward_under_check", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    fn = getattr(module, name, None)
    if not callable(fn):
        raise AttributeError(f"{path} has no callable {name!r}")
    return fn


def _reference_text(calls: list) -> str:
    if not calls:
        return TEXT_ANSWER
    from looptool.tools.render import render_calls_text

    return render_calls_text(calls)


def check(path: str, name: str, dataset: str) -> dict:
    import pyarrow.parquet as pq

    fn = _load(path, name)
    is_async = inspect.iscoroutinefunction(fn)
    rows = 0
    misses: list[str] = []
    keys: list[str] | None = None
    for batch in pq.ParquetFile(dataset).iter_batches(batch_size=1024):
        for row in batch.to_pylist():
            extra = row.get("extra_info") or {}
            row_id = str(extra.get("id", extra.get("index", rows)))
            ground_truth = row["reward_model"]["ground_truth"]
            kwargs = dict(
                data_source=row["data_source"],
                solution_str=_reference_text(json.loads(ground_truth)),
                ground_truth=ground_truth,
                extra_info=extra,
            )
            result = asyncio.run(fn(**kwargs)) if is_async else fn(**kwargs)
            if isinstance(result, dict):
                if "score" not in result:
                    return {"ok": False, "error": f"row {row_id}: returned a dict without 'score'"}
                row_keys = sorted(result)
                if keys is None:
                    keys = row_keys
                elif row_keys != keys:
                    return {
                        "ok": False,
                        "error": f"row {row_id}: returned keys {row_keys}, first row returned "
                        f"{keys}; verl needs the same keys for every sample",
                    }
                score = result["score"]
            else:
                score = result
            if not isinstance(score, (int, float)) or isinstance(score, bool):
                return {"ok": False, "error": f"row {row_id}: score {score!r} is not a number"}
            if float(score) <= 0.0 and len(misses) < 1000:
                misses.append(row_id)
            rows += 1
    return {"ok": True, "rows": rows, "reference_misses": misses, "keys": keys or []}


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    try:
        report = check(*argv)
    except Exception as exc:  # noqa: BLE001 - reported as data: the caller names the module in its error
        report = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
