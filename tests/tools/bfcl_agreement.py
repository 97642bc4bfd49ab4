"""Run BFCL's AST checker and ToolMatch `bfcl` mode on the same predictions; print a JSON report.

Runs under the bfcl runtime python (scripts/setup_bfcl.sh) with PYTHONPATH=<checkout>; the
slow test test_bfcl_agreement.py drives it. Predictions are built from BFCL's own ground
truth (oracle answers) and from deterministic mutations of them (wrong value, missing or
extra argument, swapped order, wrong type, extra or missing call, wrong name, string
normalisation, int-for-float, null values, dotted names under underscore_to_dot).

Every case gets the checker's verdict (valid / invalid / raises) and ours (matched / not /
checker_error). Disagreements are classified; with `--assignment`, ours runs with a maximum
assignment instead of greedy matching and each disagreement is checked to be a greedy false
negative (some order of the same outputs makes the checker pass).
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any
from collections.abc import Callable

import bfcl_eval
from bfcl_eval.constants.enums import Language
from bfcl_eval.eval_checker.ast_eval.ast_checker import ast_checker

from looptool.tools.calls import ToolCall
from looptool.tools.match import toolmatch

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
MODEL = "gpt-4.1-2025-04-14"  # registered, underscore_to_dot=False
MODEL_FC = "gpt-4.1-2025-04-14-FC"  # registered, underscore_to_dot=True
DATA = Path(bfcl_eval.__file__).parent / "data"

Calls = list[tuple[str, dict]]


def load(category: str) -> list[tuple[dict, list]]:
    def rows(path: Path) -> list[dict]:
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    answers = {row["id"]: row["ground_truth"] for row in rows(DATA / "possible_answer" / f"BFCL_v4_{category}.json")}
    return [(entry, answers[entry["id"]]) for entry in rows(DATA / f"BFCL_v4_{category}.json")]


def doc_of(docs: list[dict], name: str) -> dict:
    return next(d for d in docs if d["name"] == name)


def param_schema(doc: dict, param: str) -> dict:
    return doc["parameters"]["properties"].get(param, {})


def concretize(value: Any, schema: dict, pick: int) -> Any:
    """A GT acceptable value -> a concrete model value (nested dicts hold acceptable lists)."""
    kind = schema.get("type")
    if kind == "dict" and isinstance(value, dict):
        return {k: v[pick] for k, v in ((k, [a for a in vs if a != ""]) for k, vs in value.items()) if v}
    if kind == "array" and schema.get("items", {}).get("type") == "dict" and isinstance(value, list):
        return [concretize(item, {"type": "dict"}, pick) if isinstance(item, dict) else item for item in value]
    return value


def oracle(docs: list[dict], gt: list, full: bool, pick: int) -> Calls:
    calls: Calls = []
    for answer in gt:
        name, params = next(iter(answer.items()))
        doc = doc_of(docs, name)
        required = set(doc["parameters"].get("required", []))
        args = {}
        for param, acceptable in params.items():
            values = [a for a in acceptable if a != ""]
            if not values or ("" in acceptable and param not in required and not full):
                continue
            args[param] = concretize(values[pick], param_schema(doc, param), pick)
        calls.append((name, args))
    return calls


def _other(value: Any) -> Any:
    """A different value of the same type."""
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if isinstance(value, float):
        return value + 1.5
    if isinstance(value, str):
        return value + " extra"
    if isinstance(value, list):
        return value[:-1] if value else ["x"]
    if isinstance(value, dict):
        return {**value, "unexpected_key": "x"}
    return "x"


def _retyped(value: Any) -> Any:
    """The same value with another type."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return int(value) if value.is_integer() else str(value)
    if isinstance(value, str):
        return int(value) if value.isdigit() else [value]
    if isinstance(value, list):
        return json.dumps(value)
    if isinstance(value, dict):
        return json.dumps(value)
    return 0


def _with_param(calls: Calls, rng: random.Random, change: Callable[[Any], Any] | None) -> Calls | None:
    """Change (or, with change=None, drop) one random argument of one random call."""
    candidates = [(i, p) for i, (_, args) in enumerate(calls) for p in args]
    if not candidates:
        return None
    i, param = rng.choice(candidates)
    out = copy.deepcopy(calls)
    if change is None:
        del out[i][1][param]
    else:
        out[i][1][param] = change(out[i][1][param])
    return out


def _map_strings(value: Any, fn: Callable[[str], str]) -> Any:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, list):
        return [_map_strings(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_strings(v, fn) for k, v in value.items()}
    return value


def _ints_for_floats(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [_ints_for_floats(v) for v in value]
    if isinstance(value, dict):
        return {k: _ints_for_floats(v) for k, v in value.items()}
    return value


def mutations(docs: list[dict], gt: list, rng: random.Random) -> dict[str, Calls | None]:
    base = oracle(docs, gt, full=False, pick=0)
    out: dict[str, Calls | None] = {
        "oracle_min": base,
        "oracle_full": oracle(docs, gt, full=True, pick=0),
        "oracle_alt": oracle(docs, gt, full=False, pick=-1),
        "wrong_value": _with_param(base, rng, _other),
        "missing_arg": _with_param(base, rng, None),
        "wrong_type": _with_param(base, rng, _retyped),
        "null_value": _with_param(base, rng, lambda v: None),
        "bool_value": _with_param(base, rng, lambda v: True),
        "string_case_punct": [(n, _map_strings(a, lambda s: s.upper().replace(" ", "-") + ".")) for n, a in base],
        "string_bang": [(n, _map_strings(a, lambda s: s + "!")) for n, a in base],
        "int_for_float": [(n, _ints_for_floats(a)) for n, a in base],
        "extra_arg_unknown": [(n, {**a, "looptool_extra": 1}) for n, a in base],
        "wrong_name": [(n + "_x", a) for n, a in base],
        "extra_call": base + base[:1],
        "no_call": [],
    }
    schema_extra = None
    for k, (name, args) in enumerate(base):
        unused = [p for p in doc_of(docs, name)["parameters"]["properties"] if p not in args]
        if unused:
            schema_extra = copy.deepcopy(base)
            schema_extra[k][1][unused[0]] = "default"
            break
    out["extra_arg_schema"] = schema_extra
    if len(base) > 1:
        out["swapped_order"] = list(reversed(base))
        shuffled = list(base)
        rng.shuffle(shuffled)
        out["shuffled_order"] = shuffled
        out["missing_call"] = base[:-1]
        alt = oracle(docs, gt, full=True, pick=-1)
        out["alt_reversed"] = list(reversed(alt))
    return out


def checker_verdict(docs, calls: Calls, gt, category: str, model: str) -> str:
    output = [{name: copy.deepcopy(args)} for name, args in calls]
    try:
        return "valid" if ast_checker(docs, output, gt, Language.PYTHON, category, model)["valid"] else "invalid"
    except Exception:  # noqa: BLE001 - the checker's own crash is a verdict we must reproduce
        return "raises"


def our_verdict(docs, calls: Calls, gt, category: str, underscore_to_dot: bool, greedy: bool) -> tuple[str, str]:
    result = toolmatch(
        [ToolCall(n, a) for n, a in calls],
        gt,
        docs,
        mode="bfcl",
        category=category,
        underscore_to_dot=underscore_to_dot,
        bfcl_greedy=greedy,
    )
    if result.matched:
        return "valid", result.reasons[0]
    return ("raises" if result.codes[0] == "checker_error" else "invalid"), result.reasons[0]


def passes_in_some_order(docs, calls: Calls, gt, category: str, model: str, limit: int = 5040) -> bool:
    for perm in itertools.islice(itertools.permutations(calls), limit):
        if checker_verdict(docs, list(perm), gt, category, model) == "valid":
            return True
    return False


def main() -> None:
    greedy = "--assignment" not in sys.argv
    rng = random.Random(20260323)
    total = agree = 0
    by_mutation: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    verdicts: Counter[str] = Counter()
    disagreements: list[dict] = []
    for category in CATEGORIES:
        for entry, gt in load(category):
            docs = entry["function"]
            cases = [(m, calls, MODEL, False) for m, calls in mutations(docs, gt, rng).items() if calls is not None]
            base = cases[0][1]
            if any("." in name for name, _ in base):
                renamed = [(name.replace(".", "_"), args) for name, args in base]
                cases += [("underscore_to_dot", renamed, MODEL_FC, True), ("dotted_under_fc", base, MODEL_FC, True)]
            for mutation, calls, model, to_dot in cases:
                theirs = checker_verdict(docs, calls, gt, category, model)
                ours, reason = our_verdict(docs, calls, gt, category, to_dot, greedy)
                total += 1
                by_mutation[mutation][1] += 1
                by_mutation[mutation][2] += theirs == "valid"
                verdicts[theirs] += 1
                if theirs == ours:
                    agree += 1
                    by_mutation[mutation][0] += 1
                    continue
                kind = "unexplained"
                if (
                    not greedy
                    and "parallel" in category
                    and theirs == "invalid"
                    and ours == "valid"
                    and passes_in_some_order(docs, calls, gt, category, model)
                ):
                    kind = "greedy_false_negative"
                disagreements.append(
                    {
                        "id": entry["id"],
                        "category": category,
                        "mutation": mutation,
                        "checker": theirs,
                        "ours": ours,
                        "our_reason": reason,
                        "kind": kind,
                        "calls": repr(calls)[:300],
                    }
                )
    json.dump(
        {
            "matching": "greedy" if greedy else "assignment",
            "total": total,
            "agree": agree,
            "agreement": agree / total if total else 0.0,
            "checker_verdicts": dict(verdicts),
            "by_mutation": {m: {"agree": a, "total": t, "checker_valid": v} for m, (a, t, v) in sorted(by_mutation.items())},
            "disagreements": disagreements,
        },
        sys.stdout,
        indent=1,
    )
    print()


if __name__ == "__main__":
    main()
