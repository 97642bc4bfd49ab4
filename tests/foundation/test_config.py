"""Config mistakes stop the run before any request, with one message naming file, key and reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from looptool.config import load_config
from looptool.errors import ConfigError

GOOD = """
[run]
name = "t"
dir = "runs/t"

[endpoints.a]
base_url = "http://127.0.0.1:8000/v1"
model = "m"

[endpoints.b]
model = "m2"
launch = "sim"

[roles]
planner = "a"
judge = ["a", "b"]
"""


def write(tmp_path: Path, text: str, name: str = "run.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def error_for(tmp_path: Path, text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value


def test_good_config_loads_with_role_cards_and_prompts(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, GOOD))
    assert loaded.config.roles["judge"].endpoints == ["a", "b"]
    assert set(loaded.cards["judge"].tasks) == {"verify_step", "label_verdict"}
    assert (
        "$input_json"
        not in loaded.prompts["judge"]["verify_step"].render({"input_json": "{}", "current_time": "2024-05-01, Wednesday"})[1]["content"]
    )
    assert loaded.run_dir == (tmp_path / "runs/t").resolve()


@pytest.mark.parametrize(
    ("mutation", "key", "reason"),
    [
        (('name = "t"', 'name = "t"\nnmae = "x"'), "run.nmae", "unknown key"),
        (('dir = "runs/t"', 'dir = "runs/t"\niterations = "two"'), "run.iterations", "valid integer"),
        (('base_url = "http://127.0.0.1:8000/v1"', 'base_url = "ftp:/nohost"'), "endpoints.a.base_url", "not an http(s) URL"),
        (('base_url = "http://127.0.0.1:8000/v1"', 'base_url = "http://127.0.0.1:99999/v1"'), "endpoints.a.base_url", "invalid port"),
        (('planner = "a"', 'planner = "nope"'), "roles.planner.endpoints", "unknown endpoint 'nope'"),
        (('planner = "a"', 'critic = "a"'), "roles.critic", "unknown role"),
        (('model = "m"', 'model = "m"\nmax_concurrency = 0'), "endpoints.a.max_concurrency", "greater than 0"),
        (('base_url = "http://127.0.0.1:8000/v1"\n', ""), "endpoints.a.base_url", "required unless launch"),
        (('model = "m"', 'model = "m"\napi_key_env = "LOOPTOOL_TEST_UNSET_KEY"'), "endpoints.a.api_key_env", "is not set"),
        (('planner = "a"', 'planner = { endpoints = ["a"], card = "missing_card.toml" }'), "roles.planner.card", "does not exist"),
        (
            ('planner = "a"', 'planner = { endpoints = ["a"], sampling = { temperature = -1 } }'),
            "roles.planner.sampling.temperature",
            "greater than or equal to 0",
        ),
    ],
)
def test_each_mistake_names_file_key_and_reason(tmp_path: Path, mutation: tuple[str, str], key: str, reason: str) -> None:
    old, new = mutation
    assert old in GOOD
    error = error_for(tmp_path, GOOD.replace(old, new, 1))
    assert error.source == str(tmp_path / "run.toml")
    assert error.key == key
    assert reason in error.reason
    assert str(tmp_path / "run.toml") in str(error) and key in str(error)


def test_toml_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    error = error_for(tmp_path, GOOD + "\n[broken\n")
    assert "invalid TOML" in error.reason and "line" in error.reason


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(tmp_path / "absent.toml")
    assert info.value.reason == "file not found"


def test_role_card_errors_name_the_card_file(tmp_path: Path) -> None:
    card = tmp_path / "planner_card.toml"
    card.write_text('role = "planner"\n[tasks.plan]\nprompt = "no_such_prompt.md"\noutput = "json_schema"\nschema_name = "dialog_plan"\n')
    error = error_for(tmp_path, GOOD.replace('planner = "a"', 'planner = { endpoints = ["a"], card = "planner_card.toml" }'))
    assert error.source == str(card) and error.key == "tasks.plan.prompt" and "does not exist" in error.reason

    card.write_text('role = "planner"\n[tasks.plan]\nprompt = "planner.md"\noutput = "json_schema"\nschema_name = "nonsense"\n')
    error = error_for(tmp_path, GOOD.replace('planner = "a"', 'planner = { endpoints = ["a"], card = "planner_card.toml" }'))
    assert error.key == "tasks.plan.schema_name" and "unknown schema" in error.reason


def test_require_roles_fails_before_work(tmp_path: Path) -> None:
    loaded = load_config(write(tmp_path, GOOD))
    with pytest.raises(ConfigError) as info:
        loaded.require_roles(["planner", "policy"])
    assert info.value.key == "roles.policy"


def test_cli_check_exit_code_and_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from looptool.cli import main

    path = write(tmp_path, GOOD.replace('planner = "a"', 'planner = "zzz"'))
    assert main(["check", str(path)]) == 2
    out = capsys.readouterr().out
    assert "roles.planner.endpoints" in out.replace("\n", "") and "zzz" in out
    assert main(["check", str(write(tmp_path, GOOD, "ok.toml"))]) == 0


def test_json_answers_decode_only_from_their_start() -> None:
    from looptool.roles.caller import OutputInvalid, decode_json_answer

    assert decode_json_answer('```json\n{"a": [1, {"b": 2}]}\n```') == {"a": [1, {"b": 2}]}
    assert decode_json_answer('Sure! {"a": 1} trailing words') == {"a": 1}
    cut = '{"results": [{"name": "x", "content": {"k": 1}}, {"name": "y", "content": {"v'
    with pytest.raises(OutputInvalid) as info:
        decode_json_answer(cut, "length")
    assert info.value.reason == "truncated", "an inner object of a cut-off answer must not pass as the answer"
    with pytest.raises(OutputInvalid) as info:
        decode_json_answer(cut)
    assert info.value.reason == "invalid_json"
