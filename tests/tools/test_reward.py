"""verl and TRL reward entry points: thin, silent, same keys every call, ToolMatch decisions."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from looptool.tools.reward import compute_score, expected_calls, trl_reward

REPO = Path(__file__).resolve().parents[2]
TOOLS = [
    {
        "name": "set_temp",
        "description": "Set temperature.",
        "parameters": {
            "type": "dict",
            "properties": {"room": {"type": "string"}, "celsius": {"type": "float"}, "fan": {"type": "integer", "default": 1}},
            "required": ["room"],
        },
    }
]
GT = json.dumps([{"name": "set_temp", "arguments": {"room": "kitchen", "celsius": 21}}])
CALL = '<tool_call>\n{"name": "set_temp", "arguments": {"room": "kitchen", "celsius": 21.0, "fan": 1}}\n</tool_call>'


@pytest.mark.parametrize(
    ("solution", "ground_truth", "extra_info", "score", "format_ok", "code"),
    [
        ("<think>ok</think>\n" + CALL, GT, {"tools": json.dumps(TOOLS)}, 1.0, True, "match"),
        (CALL, GT, {"tools": TOOLS}, 1.0, True, "match"),  # tools as a list
        (CALL, GT, None, 0.0, True, "wrong_type"),  # without a schema 21.0 is not 21
        (CALL.replace("kitchen", "hall"), GT, {"tools": TOOLS}, 0.0, True, "wrong_value"),
        (CALL[:-12], GT, {"tools": TOOLS}, 0.0, False, "malformed"),
        ("I need the room name first.", "[]", {"tools": TOOLS}, 1.0, True, "match"),
        ("I need the room name first.", GT, {"tools": TOOLS}, 0.0, True, "no_call"),
        (CALL, "[]", {"tools": TOOLS}, 0.0, True, "unexpected_call"),
        ("", "[]", {"tools": TOOLS}, 0.0, False, "empty_output"),
    ],
)
def test_compute_score(solution, ground_truth, extra_info, score, format_ok, code, capsys):
    result = compute_score("looptool", solution, ground_truth, extra_info)
    assert list(result) == ["score", "format_ok", "reason"]  # same keys, same order, every call
    assert (type(result["score"]), type(result["format_ok"]), type(result["reason"])) == (float, bool, str)
    assert (result["score"], result["format_ok"]) == (score, format_ok)
    assert result["reason"].startswith(code), result["reason"]
    assert capsys.readouterr() == ("", "")  # no printing


def test_verl_style_extra_keys_and_list_ground_truth_are_accepted():
    extra = {"tools": json.dumps(TOOLS), "index": 3, "num_turns": None, "rollout_reward_scores": {}}
    gt = json.loads(GT)
    assert compute_score("x", CALL, gt, extra, step=5)["score"] == 1.0


@pytest.mark.parametrize(
    ("ground_truth", "fragment"),
    [
        ("<tool_call>x</tool_call>", "ground_truth: not a JSON list"),
        ('{"name": "f"}', "ground_truth: expected a list"),
        ('[{"arguments": {}}]', "ground_truth[0].name"),
    ],
)
def test_bad_ground_truth_is_a_clear_error(ground_truth, fragment):
    with pytest.raises(ValueError) as info:
        compute_score("x", CALL, ground_truth)
    assert fragment in str(info.value)


def test_bad_tools_are_a_clear_error():
    with pytest.raises(ValueError, match="extra_info.tools"):
        compute_score("x", CALL, GT, {"tools": "{not json"})
    with pytest.raises(ValueError, match="tool 'set_temp'"):
        compute_score("x", CALL, GT, {"tools": [{"name": "set_temp", "parameters": {"type": "array"}}]})


def test_expected_calls_are_cached_but_independent_of_input_objects():
    assert expected_calls(GT) == expected_calls(json.loads(GT))
    assert expected_calls("[]") == []


def test_trl_reward_with_conversational_and_plain_completions(capsys):
    completions = [
        [{"role": "assistant", "content": CALL}],
        [{"role": "assistant", "content": "Which room?"}],
        CALL,
        [
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {"type": "function", "function": {"name": "set_temp", "arguments": json.dumps({"room": "kitchen", "celsius": 21})}}
                ],
            }
        ],
    ]
    reward_model = [{"ground_truth": GT}, {"ground_truth": GT}, {"ground_truth": "[]"}, {"ground_truth": GT}]
    extra = [{"tools": json.dumps(TOOLS)}] * 4
    assert trl_reward(["p"] * 4, completions, reward_model, extra_info=extra) == [1.0, 0.0, 0.0, 1.0]
    assert trl_reward(["p"], [CALL], [{"ground_truth": GT}]) == [0.0]  # no tools: 21.0 != 21
    assert capsys.readouterr() == ("", "")


def test_trl_reward_rejects_misaligned_columns():
    with pytest.raises(ValueError, match="reward_model: 1 rows for 2 completions"):
        trl_reward(["p", "p"], [CALL, CALL], [{"ground_truth": GT}])
    with pytest.raises(ValueError, match=r"reward_model\[0\]"):
        trl_reward(["p"], [CALL], [{"label": GT}])


def test_tools_package_imports_only_stdlib_and_jsonschema():
    code = (
        "import sys\n"
        "import jsonschema  # and whatever it imports itself\n"
        "before = set(sys.modules)\n"
        "import looptool.tools, looptool.tools.reward, looptool.tools.bfcl_match\n"
        "new = {m.split('.')[0] for m in set(sys.modules) - before}\n"
        "print(sorted(new - set(sys.stdlib_module_names) - {'looptool'}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "[]"


@pytest.mark.slow
def test_verl_loads_and_calls_the_reward_through_its_own_loader(require_runtime):
    python = require_runtime("verl")
    code = (
        "import json\n"
        "from omegaconf import OmegaConf\n"
        "from verl.trainer.ppo.reward import get_custom_reward_fn\n"
        f"config = OmegaConf.create({{'reward': {{'custom_reward_function': {{'path': {str(REPO / 'looptool/tools/reward.py')!r},"
        " 'name': 'compute_score', 'reward_kwargs': {}}}})\n"
        "fn = get_custom_reward_fn(config)\n"
        f"print(json.dumps([fn(data_source='x', solution_str={CALL!r}, ground_truth={GT!r},"
        f" extra_info={{'tools': {json.dumps(TOOLS)!r}}}), fn(data_source='x', solution_str='no', ground_truth={GT!r})]))\n"
    )
    out = subprocess.run(
        [str(python), "-c", code],
        capture_output=True,
        text=True,
        timeout=600,
        env={"PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    first, second = json.loads(out.stdout.strip().splitlines()[-1])
    assert first == {"score": 1.0, "format_ok": True, "reason": "match: 1 call(s)"}
    assert second["score"] == 0.0 and second["reason"].startswith("no_call")
