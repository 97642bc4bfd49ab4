"""BFCL's stateful multi-turn backends, driven by structured calls (runs inside the bfcl env).

Why not BFCL's own executor: it rewrites the model's call text and `eval()`s it, guarded only by
a short blacklist. Here a call is a name and a dict of arguments; the name is looked up in an
allow-list (the functions BFCL documents in multi_turn_func_doc for the dialog's classes, each a
public method of its backend), and the method is called with keyword arguments. Model text never
reaches `eval`, `exec` or `getattr` on anything but that list. Ground-truth call strings are
trusted data but are still parsed with `ast` (literal arguments only), never evaluated.

Verdicts re-implement BFCL's multi-turn checker semantics (bfcl-eval 2026.3.23,
multi_turn_checker.py), turn by turn:
  * a turn whose ground truth is empty is not checked (calls made there still change the state
    that later turns are compared on);
  * otherwise the model must have made at least one call in the turn, every public attribute
    of every backend must equal the ground-truth backend's after the turn, and the ground
    truth's execution results of the turn must all appear (as a multiset, order-free) among the
    model's execution results of all turns so far.
Execution results are rendered as BFCL renders them (str as is, dict as JSON, else str()), so
the tool responses a model sees are the ones BFCL would show it.

Stdlib, bfcl_eval and looptool.errors (itself stdlib only): imported by looptool.eval.bfcl_worker under the bfcl runtime python.
"""

from __future__ import annotations

import ast
import copy
import importlib
import inspect
import json
import signal
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from looptool.errors import GroundTruthError

from bfcl_eval.constants.eval_config import MULTI_TURN_FUNC_DOC_PATH
from bfcl_eval.constants.executable_backend_config import (
    CLASS_FILE_PATH_MAPPING,
    MULTI_TURN_FUNC_DOC_FILE_MAPPING,
    STATELESS_CLASSES,
)

CALL_TIMEOUT_S = 10  # a backend call that runs longer (e.g. a huge exponent) is reported as failed
_REPR_LIMIT = 2000


@cache
def documented_functions(class_name: str) -> tuple[str, ...]:
    """Function names BFCL documents for a backend class (its multi_turn_func_doc file)."""
    try:
        file_name = MULTI_TURN_FUNC_DOC_FILE_MAPPING[class_name]
    except KeyError:
        raise ValueError(f"unknown BFCL backend class {class_name!r}") from None
    names = []
    with open(MULTI_TURN_FUNC_DOC_PATH / file_name, encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                names.append(json.loads(line)["name"])
    return tuple(names)


def parse_ground_truth_call(text: str) -> tuple[str, list[Any], dict[str, Any]]:
    """`name(arg, key=value)` -> (name, positional, keyword), literals only."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise GroundTruthError(f"{text!r}: not a Python expression ({exc.msg})") from None
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name):
        raise GroundTruthError(f"{text!r}: expected a plain call `name(...)`")
    try:
        args = [ast.literal_eval(arg) for arg in node.args]
        kwargs = {}
        for keyword in node.keywords:
            if keyword.arg is None:
                raise GroundTruthError(f"{text!r}: `**` arguments are not supported")
            kwargs[keyword.arg] = ast.literal_eval(keyword.value)
    except ValueError as exc:
        raise GroundTruthError(f"{text!r}: arguments must be literals ({exc})") from None
    return node.func.id, args, kwargs


def render_result(result: Any) -> str:
    """BFCL's rendering of an execution result (multi_turn_utils.execute_multi_turn_func_call)."""
    if type(result) is str:
        return result
    if type(result) is dict:
        try:
            return json.dumps(result)
        except (TypeError, ValueError):
            return str(result)
    return str(result)


class _CallTimeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: int) -> Iterator[None]:
    """SIGALRM-based limit; the worker runs calls on its main thread, where alarms are delivered."""

    def expire(signum: int, frame: Any) -> None:
        raise _CallTimeout(f"call exceeded {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


class Backends:
    """One dialog's backend instances and the allow-listed methods callable by name."""

    def __init__(self, involved_classes: Sequence[str], initial_config: dict[str, Any], long_context: bool) -> None:
        self.instances: dict[str, Any] = {}
        self.methods: dict[str, Any] = {}
        for class_name in involved_classes:
            if class_name not in CLASS_FILE_PATH_MAPPING:
                raise ValueError(f"unknown BFCL backend class {class_name!r}")
            module = importlib.import_module(CLASS_FILE_PATH_MAPPING[class_name])
            instance = getattr(module, class_name)()
            if class_name not in STATELESS_CLASSES:
                instance._load_scenario(copy.deepcopy(initial_config.get(class_name, {})), long_context=long_context)
            self.instances[class_name] = instance
            for name in documented_functions(class_name):
                method = getattr(instance, name, None) if not name.startswith("_") else None
                if method is not None and inspect.ismethod(method):
                    self.methods[name] = method  # later classes win on a clash, as in BFCL

    def execute(self, name: str, args: Sequence[Any] = (), kwargs: dict[str, Any] | None = None) -> str:
        """Call an allow-listed method; failures become BFCL-style error strings, never exceptions."""
        method = self.methods.get(name) if isinstance(name, str) else None
        if method is None:
            return f"Error during execution: name '{name}' is not defined"
        try:
            with _time_limit(CALL_TIMEOUT_S):
                result = method(*args, **(kwargs or {}))
        except Exception as exc:  # noqa: BLE001 - any backend failure is the model's wrong call, reported as BFCL does
            return f"Error during execution: {exc}"
        return render_result(result)

    def keyword_arguments(self, name: str, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Positional ground-truth arguments bound to parameter names (BFCL's prompt decoder keeps
        keyword arguments only, so an oracle must answer with keywords)."""
        method = self.methods.get(name)
        if method is None:
            raise GroundTruthError(f"ground truth calls {name!r}, which none of the dialog's backends offers")
        bound = inspect.signature(method).bind(*args, **kwargs)
        out: dict[str, Any] = {}
        for param_name, value in bound.arguments.items():
            kind = inspect.signature(method).parameters[param_name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                out.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                raise GroundTruthError(f"{name}: *args parameters cannot be passed by keyword")
            else:
                out[param_name] = value
        return out

    def public_state(self, class_name: str) -> dict[str, Any]:
        return {k: v for k, v in vars(self.instances[class_name]).items() if not k.startswith("_")}


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _REPR_LIMIT else text[:_REPR_LIMIT] + "..."


def missing_results(expected: Sequence[str], produced: Sequence[str]) -> list[str]:
    """Expected results not found in `produced`, each produced result used at most once."""
    pool = list(produced)
    missing = []
    for item in expected:
        try:
            pool.remove(item)
        except ValueError:
            missing.append(item)
    return missing


class Dialog:
    """A multi-turn item being played: the model's backends, the ground truth's, and the checks."""

    def __init__(self, entry: dict[str, Any], ground_truth: list[list[str]], long_context: bool) -> None:
        classes = entry["involved_classes"]
        config = entry.get("initial_config") or {}
        self.model = Backends(classes, config, long_context)
        self.truth = Backends(classes, config, long_context)
        self.ground_truth = [[parse_ground_truth_call(call) for call in turn] for turn in ground_truth]
        self.model_results: list[str] = []
        self.calls_this_turn = 0

    def run_model_calls(self, calls: Sequence[dict[str, Any]]) -> list[str]:
        results = []
        for call in calls:
            arguments = call.get("arguments")
            if not isinstance(arguments, dict):
                results.append("Error during execution: arguments must be an object")
                continue
            results.append(self.model.execute(call.get("name"), (), arguments))
        self.model_results.extend(results)
        self.calls_this_turn += len(calls)
        return results

    def end_turn(self, turn: int) -> dict[str, Any]:
        """Execute the turn's ground truth and judge the turn."""
        if not 0 <= turn < len(self.ground_truth):
            raise ValueError(f"turn {turn} out of range: the item has {len(self.ground_truth)} turns")
        made = self.calls_this_turn
        self.calls_this_turn = 0
        expected = [self.truth.execute(name, args, kwargs) for name, args, kwargs in self.ground_truth[turn]]
        if not self.ground_truth[turn]:
            return {"valid": True, "checked": False}
        if not made:
            return {
                "valid": False,
                "error_type": "multi_turn:empty_turn_model_response",
                "error": f"no function call in turn {turn}, which has a ground truth",
            }
        for class_name in self.truth.instances:
            truth_state = self.truth.public_state(class_name)
            model_state = self.model.public_state(class_name)
            differences = {
                key: {"model": _short(model_state.get(key)), "ground_truth": _short(value)}
                for key, value in truth_state.items()
                if model_state.get(key) != value
            }
            if differences:
                return {
                    "valid": False,
                    "error_type": "multi_turn:instance_state_mismatch",
                    "error": f"{class_name} state differs from the ground truth after turn {turn}",
                    "differences": differences,
                }
        missing = missing_results(expected, self.model_results)
        if missing:
            return {
                "valid": False,
                "error_type": "multi_turn:execution_response_mismatch",
                "error": f"ground-truth results of turn {turn} missing from the model's results",
                "missing": [_short(m) for m in missing],
            }
        return {"valid": True, "checked": True}

    def keyword_ground_truth(self) -> list[list[dict[str, Any]]]:
        """The ground truth as structured keyword calls (for oracle answers)."""
        return [
            [{"name": name, "arguments": self.truth.keyword_arguments(name, args, kwargs)} for name, args, kwargs in turn]
            for turn in self.ground_truth
        ]
