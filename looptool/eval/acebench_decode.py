"""Read ACEBench's answer format `[ApiName(key='value', ...)]` into calls, without evaluating it.

ACEBench decodes answers with Python's `ast` and, for a few node types, `eval()` (binary
operations and lambdas). This module reproduces its decisions (what decodes, to which values,
and what fails) with `ast` alone: arithmetic on literals is computed by a bounded evaluator
of its own, everything that would need names or calls fails as it does there. Model text never
reaches eval/exec.

Two readers, because ACEBench has two:
  * `decode_answer`   the checker's reader (model_inference/utils.py `decode_ast`): a list of
                      calls; a call without keyword arguments nested in a value becomes
                      {name: {}}.
  * `decode_execution` the agent execution's reader (multi_step/multi_turn `decode_function_list`):
                      brackets added when missing, outer `[ ] '` stripped, one call or a
                      tuple/list of calls; a nested call without keywords becomes its source
                      text. `non_call` says what a non-call element does: "raise" (multi_step
                      execution), "skip" (multi_turn execution), "reject" (multi_turn agent side:
                      the message goes to the user instead).
Positional arguments are dropped by both, as ACEBench does.

A decoded call is {name: {argument: value}} (ACEBench's shape); values keep Python types the
checker distinguishes (tuples stay tuples, ints stay ints).
"""

from __future__ import annotations

import ast
import operator
from typing import Any, Literal

MAX_TEXT_CHARS = 200_000  # longer answers are not decoded (far beyond any ACEBench answer)
_MAX_POWER_EXPONENT = 4096
_MAX_SEQUENCE = 1_000_000

NonCall = Literal["raise", "skip", "reject"]


class DecodeError(ValueError):
    """The text is not in ACEBench's answer format (ACEBench's reader raises here too)."""


def outermost_brackets(text: str) -> str | None:
    """The first complete top-level `[...]` of the text (eval_main's bracket extraction), or None."""
    start = -1
    depth = 0
    for index, char in enumerate(text):
        if char == "[":
            if depth == 0:
                start = index
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0 and start != -1:
                return text[start : index + 1]
    return None


def _parse(text: str) -> ast.expr:
    if len(text) > MAX_TEXT_CHARS:
        raise DecodeError(f"answer longer than {MAX_TEXT_CHARS} characters")
    try:
        return ast.parse(text, mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        raise DecodeError(f"not Python syntax: {exc}") from None


def _dotted_name(func: ast.expr) -> str:
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    if isinstance(func, ast.Name):
        parts.append(func.id)
    return ".".join(reversed(parts))


# -- arithmetic on literals (what ACEBench eval()s) ---------------------------------------------

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
    ast.LShift: operator.lshift,
    ast.RShift: operator.rshift,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_, ast.Invert: operator.invert}


def _size_ok(value: Any) -> Any:
    if isinstance(value, (str, bytes, list, tuple)) and len(value) > _MAX_SEQUENCE:
        raise DecodeError("arithmetic result too large")
    return value


def _literal(node: ast.expr) -> Any:
    """Value of an expression made of literals and operators, as Python's eval would give it."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        values = [_literal(e) for e in node.elts]
        return values if isinstance(node, ast.List) else tuple(values) if isinstance(node, ast.Tuple) else set(values)
    if isinstance(node, ast.Dict):
        if any(k is None for k in node.keys):
            raise DecodeError("dict unpacking in an arithmetic expression")
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values)}  # type: ignore[arg-type]
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_literal(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _literal(node.left), _literal(node.right)
        if isinstance(node.op, ast.Pow) and isinstance(right, (int, float)) and abs(right) > _MAX_POWER_EXPONENT:
            raise DecodeError("exponent too large")
        if isinstance(node.op, ast.LShift) and isinstance(right, int) and right > _MAX_POWER_EXPONENT:
            raise DecodeError("shift too large")
        if (
            isinstance(node.op, ast.Mult)
            and isinstance(left, (str, bytes, list, tuple))
            and isinstance(right, int)
            and len(left) * right > _MAX_SEQUENCE
        ):
            raise DecodeError("arithmetic result too large")
        if (
            isinstance(node.op, ast.Mult)
            and isinstance(right, (str, bytes, list, tuple))
            and isinstance(left, int)
            and len(right) * left > _MAX_SEQUENCE
        ):
            raise DecodeError("arithmetic result too large")
        return _size_ok(_BINARY[type(node.op)](left, right))
    # Names, calls, attribute access, ...: ACEBench's eval() raises NameError and the like here.
    raise DecodeError(f"{type(node).__name__} in an arithmetic expression")


def _binop(node: ast.BinOp) -> Any:
    try:
        return _literal(node)
    except DecodeError:
        raise
    except (ArithmeticError, TypeError, ValueError) as exc:
        raise DecodeError(f"arithmetic fails: {exc}") from None


# -- values ----------------------------------------------------------------------------------


def _value(node: ast.expr, nested_call_as_text: bool) -> Any:
    """One argument value, node type by node type as ACEBench's resolve_ast_by_type reads it."""
    if isinstance(node, ast.Constant):
        return "..." if node.value is Ellipsis else node.value
    if isinstance(node, ast.UnaryOp):
        # ACEBench computes `-operand.value` whatever the operator: `+5` and `not 1` read as -5
        # and -1; an operand without `.value` (a name, a call, a nested operator) fails.
        if not isinstance(node.operand, ast.Constant):
            raise DecodeError("operator applied to a non-literal")
        try:
            return -node.operand.value
        except TypeError as exc:
            raise DecodeError(f"cannot negate: {exc}") from None
    if isinstance(node, ast.List):
        return [_value(e, nested_call_as_text) for e in node.elts]
    if isinstance(node, ast.Dict):
        out = {}
        for key, value in zip(node.keys, node.values):
            if key is None:
                raise DecodeError("`**` inside a dict")
            resolved = _value(key, nested_call_as_text)
            try:
                out[resolved] = _value(value, nested_call_as_text)
            except TypeError:
                raise DecodeError("unhashable dict key") from None
        return out
    if isinstance(node, ast.BinOp):
        return _binop(node)
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Call):
        if not node.keywords:
            return ast.unparse(node) if nested_call_as_text else {_dotted_name(node.func): {}}
        return _call(node, nested_call_as_text)
    if isinstance(node, ast.Tuple):
        return tuple(_value(e, nested_call_as_text) for e in node.elts)
    if isinstance(node, ast.Subscript):
        return ast.unparse(node.value) + "[" + ast.unparse(node.slice) + "]"
    # Lambda (ACEBench's branch for it always raises), Set, f-strings, comparisons, ...
    raise DecodeError(f"unsupported value: {type(node).__name__}")


def _call(node: ast.Call, nested_call_as_text: bool) -> dict[str, dict[Any, Any]]:
    arguments: dict[Any, Any] = {}
    for keyword in node.keywords:
        arguments[keyword.arg] = _value(keyword.value, nested_call_as_text)  # `**x` gives key None, as in ACEBench
    return {_dotted_name(node.func): arguments}


def decode_answer(text: str | None) -> list[dict[str, dict[Any, Any]]]:
    """The checker's reader: `text` must be a list (or tuple/set) display of calls."""
    if text is None:
        raise DecodeError("no [...] in the answer")
    body = _parse(text)
    if not isinstance(body, (ast.List, ast.Tuple, ast.Set)):
        raise DecodeError(f"expected a list of calls, got {type(body).__name__}")
    calls = []
    for element in body.elts:
        if not isinstance(element, ast.Call):
            raise DecodeError(f"list element is {type(element).__name__}, not a call")
        calls.append(_call(element, nested_call_as_text=False))
    return calls


def decode_execution(text: str, non_call: NonCall) -> list[dict[str, dict[Any, Any]]] | None:
    """The agent execution's reader; None when `non_call="reject"` meets a non-call element."""
    if not text:
        raise DecodeError("empty message")
    func = text[1:] if text[0] == " " else text
    if not func.startswith("["):
        func = "[" + func
    if not func.endswith("]"):
        func = func + "]"
    body = _parse(func.strip("[]'"))
    if isinstance(body, ast.Call):
        return [_call(body, nested_call_as_text=True)]
    if not isinstance(body, (ast.Tuple, ast.List)):
        return []  # ACEBench: nothing to execute, no error
    calls = []
    for element in body.elts:
        if isinstance(element, ast.Call):
            calls.append(_call(element, nested_call_as_text=True))
        elif non_call == "raise":
            raise DecodeError("element is not a function call")
        elif non_call == "reject":
            return None
    return calls


def render_value(value: Any) -> str:
    """A value in ACEBench's answer syntax (a Python literal: `'a'`, `True`, `{'k': 1}`)."""
    return repr(value)


def render_call(name: str, arguments: dict[str, Any]) -> str:
    return f"{name}(" + ", ".join(f"{key}={render_value(value)}" for key, value in arguments.items()) + ")"


def render_calls(calls: list[tuple[str, dict[str, Any]]]) -> str:
    """`[A(x=1), B(y='z')]`: how a perfect ACEBench answer is written."""
    return "[" + ", ".join(render_call(name, arguments) for name, arguments in calls) + "]"
