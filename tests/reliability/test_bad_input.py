"""Issue 12.7 and 12.9: every bad input is one message naming file, key and reason, before any
request, with no traceback, and text in square brackets survives the terminal library."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from looptool.cli import main

BASE = """
[run]
dir = "run"
[endpoints.gen]
base_url = "http://127.0.0.1:9/v1"
[roles]
generator = "gen"
"""

GOOD_SPEC = {
    "name": "get_rate",
    "description": "Exchange rate.",
    "parameters": {"type": "object", "properties": {"base": {"type": "string"}}},
}


def imports(tmp_path: Path, content: bytes | str | list) -> str:
    path = tmp_path / "tools.json"
    if isinstance(content, list):
        content = json.dumps(content)
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return BASE + '[synth.pool]\nimport_files = ["tools.json"]\n'


# (case, config text (or a function of tmp_path that writes what it needs), key, words of the reason)
CASES: list[tuple[str, str | Callable[[Path], str], str, list[str]]] = [
    (
        "import_missing",
        BASE + '[synth.pool]\nimport_files = ["nope.json"]\n',
        "synth.pool.import_files[0]",
        ["nope.json", "does not exist"],
    ),
    ("import_not_utf8", lambda p: imports(p, b'[{"name": "\xff"}]'), "synth.pool.import_files[0]", ["tools.json", "not UTF-8"]),
    ("import_not_json", lambda p: imports(p, "[{oops\n"), "synth.pool.import_files[0]", ["tools.json", "line 1", "JSON"]),
    (
        "import_bad_spec",
        lambda p: imports(p, [GOOD_SPEC, {"name": "x", "parameters": {"type": "object", "properties": {}, "required": ["ghost"]}}]),
        "synth.pool.import_files[0]",
        ["tools.json[1]", "ghost"],
    ),
    (
        "import_duplicate",
        lambda p: imports(p, [GOOD_SPEC, GOOD_SPEC]),
        "synth.pool.import_files[0]",
        ["tools.json[1]", "get_rate", "tools.json[0]"],
    ),
    (
        "import_deeply_nested",
        lambda p: imports(p, "[" * 100_000 + "]" * 100_000),
        "synth.pool.import_files[0]",
        ["tools.json", "nested too deeply"],
    ),
    (
        "import_huge_description",
        lambda p: imports(p, [{**GOOD_SPEC, "description": "x" * 20_000_000}]),
        "synth.pool.import_files[0]",
        ["tools.json[0]", "description of 20000000 characters"],
    ),
    (
        "import_unsafe_pattern",
        lambda p: imports(
            p, [{**GOOD_SPEC, "parameters": {"type": "object", "properties": {"base": {"type": "string", "pattern": r"(a)\1"}}}}]
        ),
        "synth.pool.import_files[0]",
        ["tools.json[0]", "pattern_unsupported"],
    ),
    ("unknown_domain", BASE + '[synth]\ndomains = ["travel", "atlantis"]\n', "synth.domains", ["'atlantis'", "available", "travel"]),
    ("url_with_space", BASE.replace("127.0.0.1:9", "127.0.0.1 :9"), "endpoints.gen.base_url", ["whitespace"]),
    ("negative_weight", BASE + "[synth.dialogs.kind_weights]\nsingle = 1.0\nno_tool = -0.5\n", "synth.dialogs", ["no_tool = -0.5", ">= 0"]),
    (
        "empty_api_key_env",
        BASE.replace('base_url = "http://127.0.0.1:9/v1"', 'base_url = "http://127.0.0.1:9/v1"\napi_key_env = ""'),
        "endpoints.gen.api_key_env",
        ["is empty"],
    ),
    ("init_model_missing", BASE + '[policy]\ninit_model = "models/none"\n', "policy.init_model", ["models/none", "not a directory"]),
    ("run_dir_is_a_file", lambda p: ((p / "run").write_text("x"), BASE)[1], "run.dir", ["exists and is not a directory"]),
    ("nested_toml", BASE + "[synth]\ndomains = " + "[" * 5000 + "]" * 5000 + "\n", "", ["nested too deeply"]),
    ("brackets_survive", BASE + "[synth.dialogs]\ntools_per_dialog = [5, 2]\n", "synth.dialogs", ["[low, high]"]),
    (
        "vllm_table_named",
        BASE.replace('base_url = "http://127.0.0.1:9/v1"', 'launch = "vllm"'),
        "endpoints.gen.vllm",
        ["[endpoints.gen.vllm]"],
    ),
]


@pytest.mark.parametrize(("case", "text", "key", "words"), CASES, ids=[c[0] for c in CASES])
def test_bad_config_is_one_message_naming_file_key_and_reason(
    case: str, text: str | Callable[[Path], str], key: str, words: list[str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text(tmp_path) if callable(text) else text)
    assert main(["check", str(config)]) == 2
    out = " ".join(capsys.readouterr().out.split())  # the console wraps long lines
    assert "Traceback" not in out
    assert out.count("config error") == 1
    assert f"{config}: {key}".rstrip(": ") in out if key else str(config) in out
    for word in words:
        assert word in out, f"{word!r} not in {out!r}"


def test_non_utf8_and_oversized_configs(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    latin = tmp_path / "latin.toml"
    latin.write_bytes(BASE.encode() + b'[run.x]\nname = "caf\xe9"\n')
    assert main(["check", str(latin)]) == 2
    huge = tmp_path / "huge.toml"
    huge.write_text(BASE + "# " + "x" * (5 << 20) + "\n")
    assert main(["check", str(huge)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"{latin}: not UTF-8 text (byte 0xe9" in out
    assert f"{huge}: larger than 4 MB" in out
    assert "Traceback" not in out


def test_bfcl_import_without_its_runtime(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPTOOL_HOME", str(tmp_path / "home"))
    config = tmp_path / "bfcl.toml"
    config.write_text(BASE + '[synth.pool]\nimport_bfcl = "multi_turn"\n')
    assert main(["check", str(config)]) == 2
    out = " ".join(capsys.readouterr().out.split())
    assert f"{config}: synth.pool.import_bfcl: needs the bfcl runtime" in out and "setup_bfcl.sh" in out


def test_a_deeply_nested_answer_is_an_invalid_answer_not_a_crash() -> None:
    from looptool.roles.caller import OutputInvalid, check_schema, decode_json_answer

    with pytest.raises(OutputInvalid, match="nested too deeply"):
        decode_json_answer("[" * 100_000 + "]" * 100_000)
    deep: list = []
    for _ in range(5000):
        deep = [deep]
    with pytest.raises(OutputInvalid):
        check_schema({"a": deep}, "t", {"type": "object", "properties": {"a": {"$ref": "#"}}, "items": {"$ref": "#"}})


def test_user_text_in_progress_and_tables_keeps_its_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    from looptool.ui import ProgressReporter, print_stage_summary

    with ProgressReporter("items [a, b]", 2) as progress:
        progress.advance(2)
    print_stage_summary("stage [x]", {"failed[retries_exhausted:http_503]": 3}, {"roles": {"judge[1]": {"requests": 1}}, "total": {}})
    out = capsys.readouterr().out
    for text in ("items [a, b]: starting", "stage [x]", "failed[retries_exhausted:http_503]", "judge[1]"):
        assert text in out
