"""Issue 12.1: no regular expression from a model or a user file runs unbounded.

The pathological case runs in a child process with a timeout: on a backtracking engine it takes
minutes (277 s measured) and cannot be interrupted from inside the process, so a plain call would
hang the test suite instead of failing it.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from looptool.roles.caller import OutputInvalid, check_schema
from looptool.synth.api_rules import INVALID_SCHEMA, UNSAFE_PATTERN, SpecIndex, check_generated_spec
from looptool.tools.patterns import PATTERN_INVALID, PATTERN_UNSUPPORTED, compile_pattern, pattern_problem, search
from looptool.tools.validate import validate_call

REPO = Path(__file__).resolve().parents[2]
EVIL = "^(a+)+$"
EVIL_TEXT = "a" * 30 + "!"  # 31 characters: 2^30 ways to split the a's before failing


def spec_with(pattern: str, default: str | None = None) -> dict:
    code = {"type": "string", "description": "Booking code.", "pattern": pattern}
    if default is not None:
        code["default"] = default
    return {
        "name": "lookup_booking",
        "description": "Look up a booking by its code.",
        "parameters": {"type": "object", "properties": {"code": code}, "required": []},
    }


def run_bounded(code: str, timeout_s: float = 20.0) -> str:
    """Run `code` in a fresh interpreter; a hang is a test failure, not a stuck suite."""
    try:
        done = subprocess.run(
            [sys.executable, "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            timeout=timeout_s,
            cwd=REPO,
            env={"PYTHONPATH": str(REPO), "PATH": "/usr/bin:/bin"},
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running after {timeout_s} s: the pattern ran on a backtracking engine")
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_generated_default_against_a_catastrophic_pattern_finishes() -> None:
    out = run_bounded(f"""
        import json
        from looptool.synth.api_rules import SpecIndex, check_generated_spec
        spec = {json.dumps(spec_with(EVIL, EVIL_TEXT))}
        print(json.dumps([r.code for r in check_generated_spec(spec, {{}}, SpecIndex())]))
    """)
    assert json.loads(out) == [INVALID_SCHEMA], "the default does not match the pattern: the spec is rejected, not hung on"


def test_call_argument_against_a_catastrophic_pattern_finishes() -> None:
    out = run_bounded(f"""
        import json
        from looptool.tools.validate import validate_call
        spec = {json.dumps(spec_with(EVIL))}
        issues = validate_call({{"name": "lookup_booking", "arguments": {{"code": {EVIL_TEXT!r}}}}}, [spec])
        print(json.dumps([i.reason for i in issues]))
    """)
    assert json.loads(out) == ["schema_violation"]


def test_structured_answer_schema_with_a_catastrophic_pattern_finishes() -> None:
    out = run_bounded(f"""
        from looptool.roles.caller import OutputInvalid, check_schema
        try:
            check_schema({{"code": {EVIL_TEXT!r}}}, "t", {{"type": "object", "properties": {{"code": {{"type": "string", "pattern": {EVIL!r}}}}}}})
        except OutputInvalid as error:
            print(error.reason)
    """)
    assert out.strip() == "schema_violation"


def test_patterns_still_mean_what_they_say() -> None:
    assert search("^TRP-[0-9]{8}$", "TRP-12345678")
    assert not search("^TRP-[0-9]{8}$", "TRP-1234567")
    assert search("[0-9]", "ab3"), "JSON Schema patterns are unanchored searches"
    tools = [spec_with("^[A-Z]{3}$")]
    assert validate_call({"name": "lookup_booking", "arguments": {"code": "ABC"}}, tools) == []
    assert [i.reason for i in validate_call({"name": "lookup_booking", "arguments": {"code": "abcd"}}, tools)] == ["schema_violation"]
    with pytest.raises(OutputInvalid):
        check_schema({"code": "x"}, "t", {"type": "object", "patternProperties": {"^c": {"type": "integer"}}})
    assert check_schema({"code": 3}, "t", {"type": "object", "patternProperties": {"^c": {"type": "integer"}}}) == {"code": 3}


@pytest.mark.parametrize("pattern", [r"(a)\1", r"^(?=.*\d).+$", r"(?<!x)y"])
def test_patterns_needing_backtracking_are_refused_with_a_reason_code(pattern: str) -> None:
    problem = pattern_problem(pattern)
    assert problem is not None and problem.code == PATTERN_UNSUPPORTED
    assert [r.code for r in check_generated_spec(spec_with(pattern), {}, SpecIndex())] == [UNSAFE_PATTERN]
    issues = validate_call({"name": "lookup_booking", "arguments": {"code": "aa"}}, [spec_with(pattern)])
    assert [i.reason for i in issues] == ["uncheckable_pattern"], "a value is never judged by a pattern that cannot run safely"


def test_garbage_patterns_are_invalid_not_unsupported() -> None:
    assert pattern_problem("[a-").code == PATTERN_INVALID
    assert [r.code for r in check_generated_spec(spec_with("[a-"), {}, SpecIndex())] == [INVALID_SCHEMA]
    assert pattern_problem("x" * 5000).code == "pattern_too_long"
    assert compile_pattern("^ok$") is compile_pattern("^ok$"), "compiled once per pattern"


def test_tree_constraints_refuse_uncheckable_patterns() -> None:
    from looptool.synth.api_rules import ConstraintError, validate_constraints

    with pytest.raises(ConstraintError, match="cannot be checked safely"):
        validate_constraints({"domain_params": [{"name": "code", "type": "string", "pattern": r"(a)\1"}]})


def test_reward_workers_do_not_need_re2() -> None:
    """looptool.tools is imported inside the TRL/verl runtimes, which do not ship google-re2."""
    out = run_bounded("""
        import sys
        import looptool.tools, looptool.tools.reward
        print("re2" in sys.modules)
    """)
    assert out.strip() == "False"
