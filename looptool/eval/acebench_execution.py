"""Execute an agent's messages on the scenario backends, through an allow-list, as ACEBench's
agent loops do, without eval.

ACEBench turns each decoded call back into source text (`name(k=repr(v), ...)`, with dict
values rewritten as nested calls), prefixes the instance name and eval()s it on every involved
instance that has the method. Here a call is a name and keyword arguments: the name must be in
the allow-list (the public methods ACEBench's classes have, per language), the method runs on
each involved instance that has it, in the involved-classes order, as there. The observable
outcomes of ACEBench's text round trip are reproduced without executing text:
  * a dict argument is read as a nested call `{name: {args}}`: `dict(...)` builds a dict, any
    other name fails as a NameError would; a dict that is not of that shape fails to build, so
    the whole message counts as undecodable (as ACEBench's string building raises);
  * an infinite or NaN number fails as eval(repr(x)) does (NameError 'inf'/'nan');
  * a `**` argument makes the call text a SyntaxError;
  * an unknown method repeats the previous result of the same message, or fails with Python's
    unbound-variable error when there is none (ACEBench reads a variable its loop never set);
  * a dotted name `a.b` fails with NameError 'a' when `b` is a method.

Two variants, because ACEBench has two executors:
  multi_step  a message that does not decode answers "Please do not ask me any questions, ...";
              a failing call adds "Error during execution: <error>" and the rest still runs;
  multi_turn  the first failing call stops the message, whose reply is ACEBench's unformatted
              template "Error during execution: {str(e)}" (it forgot the f-string prefix),
              character by character; such a message does not count as an execution.
The final state (the attributes ACEBench saves, through JSON) is reported once any message was
executed (multi_step: decoded; multi_turn: ran without error), else it is empty, as there.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from looptool.eval.acebench_check import json_state
from looptool.eval.acebench_decode import DecodeError, decode_execution
from looptool.eval.acebench_scenarios import CLASSES, SAVED_ATTRIBUTES, allowed_methods

Variant = Literal["multi_step", "multi_turn"]
STEP_DECODE_FAILURE = "Please do not ask me any questions, use the known conditions to solve the problem"
TURN_ERROR_TEMPLATE = "Error during execution: {str(e)}"
_UNBOUND = "cannot access local variable 'func_call_result' where it is not associated with a value"
_STAR_ARGUMENT = 'expression cannot contain assignment, perhaps you meant "=="? (<string>, line 1)'
_IDENTIFIER = re.compile(r"^[A-Za-z_]\w*$")


class _BuildError(Exception):
    """ACEBench fails while turning the decoded calls back into call text."""


class _EvalError(Exception):
    """ACEBench's eval of the call text raises before the method runs."""


@dataclass
class Reply:
    """What the execution role answers to one agent message."""

    message: Any  # ACEBench's message: the parsed result of each call (a text when nothing decoded)
    executed: bool  # counted as an execution (see the module docstring)
    error: str | None = None  # the underlying error of a failed multi_turn message (for our prompts)
    calls: list[dict[str, Any]] = field(default_factory=list)  # the decoded calls


def _prepared(value: Any) -> Any:
    """The value eval(repr(value)) gives back, or the failure it raises."""
    if isinstance(value, float) and not math.isfinite(value):
        raise _EvalError(f"name '{'nan' if math.isnan(value) else 'inf'}' is not defined")
    if isinstance(value, (list, tuple, set)):
        for item in value:
            _prepared(item)
    elif isinstance(value, dict):
        for key, item in value.items():
            _prepared(key)
            _prepared(item)
    return value


def _nested_call(value: dict[Any, Any]) -> Any:
    """A dict argument, which ACEBench renders as a call `name(k=v, ...)`."""
    try:
        name = next(iter(value))
    except StopIteration:
        raise _BuildError("empty dict argument") from None
    arguments = value[name]
    if not isinstance(arguments, dict):
        raise _BuildError("dict argument is not a nested call")
    built = {key: _argument(item) for key, item in arguments.items()}
    return ("call", name, built)


def _argument(value: Any) -> Any:
    if isinstance(value, dict):
        return _nested_call(value)
    return ("value", value)


def _evaluate(argument: Any) -> Any:
    kind, *rest = argument
    if kind == "value":
        return _prepared(rest[0])
    name, arguments = rest
    if any(key is None for key in arguments):
        raise _EvalError(_STAR_ARGUMENT)
    if name != "dict":
        head = name.split(".")[0] if isinstance(name, str) and name else name
        raise _EvalError(f"name '{head}' is not defined")
    return {key: _evaluate(item) for key, item in arguments.items()}


def _result_text(result: Any) -> Any:
    """ACEBench's formatting of a call result, then its JSON parse of that text."""
    if type(result) is str:
        text = result
    elif type(result) is dict:
        try:
            text = json.dumps(result)
        except (TypeError, ValueError):
            text = str(result)
    else:
        text = str(result)
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


class Executor:
    """One dialog's backends: instances of the involved classes, loaded with its config."""

    def __init__(self, initial_config: dict[str, Any], involved_classes: list[str], language: str, variant: Variant) -> None:
        self.variant = variant
        self.language = language
        self.instances: dict[str, Any] = {}
        self.methods: dict[str, list[str]] = {}
        for cls in involved_classes:
            if cls not in CLASSES:
                raise ValueError(f"unknown ACEBench scenario class {cls!r}")
            instance = CLASSES[cls](language)
            instance._load_scenario(json.loads(json.dumps(initial_config.get(cls, {}))))
            instance._load_scenario(json.loads(json.dumps(initial_config.get("BaseApi", {}))))
            self.instances[cls] = instance
            for method in allowed_methods(cls, language):
                self.methods.setdefault(method, []).append(cls)
        self.reported = False

    # -- routing (multi_turn: does the agent's message go to execution or to the user?) --------
    def routes_to_execution(self, text: str) -> bool:
        """ACEBench's agent-side check: a [...] on one line, and the message decodes and builds."""
        if not re.search(r"\[.*\]", text):
            return False
        try:
            calls = decode_execution(text, non_call="reject")
            if calls is None:
                return False
            self._build(calls)
        except (DecodeError, _BuildError):
            return False
        return True

    # -- execution ---------------------------------------------------------------------------
    def _build(self, calls: list[dict[str, Any]]) -> list[tuple[str, dict[Any, Any]]]:
        built = []
        for call in calls:
            for name, arguments in call.items():
                built.append((name, {key: _argument(value) for key, value in arguments.items()}))
        return built

    def _run_one(self, name: Any, arguments: dict[Any, Any], last: list[Any]) -> Any:
        """One call on every instance that has the method; returns the last result. `last` holds
        the most recent value any instance returned in this message (ACEBench's loop variable)."""
        method = name
        if isinstance(name, str) and "." in name:
            head, method = name.split(".")[0], name.rsplit(".", 1)[1]
            if method in self.methods:
                raise _EvalError(f"name '{head}' is not defined")
        if not isinstance(method, str) or not _IDENTIFIER.match(method) or method not in self.methods:
            if last:
                return last[0]
            raise _EvalError(_UNBOUND)
        for cls in self.methods[method]:
            if any(key is None for key in arguments):
                raise _EvalError(_STAR_ARGUMENT)
            values = {key: _evaluate(value) for key, value in arguments.items()}
            last[:] = [getattr(self.instances[cls], method)(**values)]
        return last[0]

    def _execute(self, built: list[tuple[str, dict[Any, Any]]]) -> Reply:
        raw: list[Any] = []
        last: list[Any] = []
        for name, arguments in built:
            try:
                raw.append(self._run_one(name, arguments, last))
            except Exception as exc:  # noqa: BLE001 - a failing call is a result the model sees, as in ACEBench
                if self.variant == "multi_turn":
                    return Reply(
                        message=[_result_text(c) for c in TURN_ERROR_TEMPLATE], executed=False, error=f"Error during execution: {exc}"
                    )
                raw.append(f"Error during execution: {exc}")
        self.reported = True
        return Reply(message=[_result_text(r) for r in raw], executed=True)

    def respond(self, text: str) -> Reply:
        """Execute an agent message in ACEBench's answer format."""
        try:
            calls = decode_execution(text, non_call="raise" if self.variant == "multi_step" else "skip")
            assert calls is not None
            built = self._build(calls)
        except (DecodeError, _BuildError):
            return Reply(message=STEP_DECODE_FAILURE if self.variant == "multi_step" else [], executed=False, error=STEP_DECODE_FAILURE)
        reply = self._execute(built)
        reply.calls = calls
        return reply

    def respond_calls(self, calls: list[tuple[str, dict[str, Any]]]) -> Reply:
        """Execute structured calls (native tool calls) with the same semantics."""
        decoded = [{name: dict(arguments)} for name, arguments in calls]
        try:
            built = self._build(decoded)
        except _BuildError:
            return Reply(message=STEP_DECODE_FAILURE, executed=False, error=STEP_DECODE_FAILURE, calls=decoded)
        reply = self._execute(built)
        reply.calls = decoded
        return reply

    def take(self, text: str) -> tuple[bool, Reply | None]:
        """One agent message as ACEBench's loop handles it: multi_step always executes it;
        multi_turn executes it only when it routes to execution. (routed, reply)."""
        if self.variant == "multi_turn" and not self.routes_to_execution(text):
            return False, None
        return True, self.respond(text)

    def final_state(self) -> list[dict[str, Any]]:
        """The saved attributes of every involved class, as ACEBench's result file holds them."""
        if not self.reported:
            return []
        states = []
        for cls, instance in self.instances.items():
            attributes = {name: value for name, value in vars(instance).items() if name in SAVED_ATTRIBUTES[cls]}
            states.append({cls: attributes})
        return json_state(states)


@dataclass
class Replay:
    routes: str  # per message: "e" executed, "u" sent to the user (multi_turn only)
    replies: list[Reply | None]
    final_state: list[dict[str, Any]]
    executed: list[str]  # the messages sent for execution (ACEBench's process list)


def replay_messages(
    initial_config: dict[str, Any], involved_classes: list[str], language: str, variant: Variant, messages: list[str]
) -> Replay:
    """Execute a fixed sequence of agent messages (no model, no user): the backends' part of an
    agent dialog, as the golden comparison and the oracle table need it."""
    executor = Executor(initial_config, involved_classes, language, variant)
    routes, replies, executed = "", [], []
    for message in messages:
        routed, reply = executor.take(message)
        routes += "e" if routed else "u"
        replies.append(reply)
        if routed:
            executed.append(message)
    return Replay(routes=routes, replies=replies, final_state=executor.final_state(), executed=executed)
