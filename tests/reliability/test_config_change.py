"""Issue 12.3: a config changed between a run and its resume is never accepted silently."""

from __future__ import annotations

import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from looptool.config import RunConfig, load_config
from looptool.config.resume import ConfigChanged
from looptool.config.stage_keys import EVERY_STAGE, OPERATIONAL, STAGE_KEYS, config_conflicts, stages_of, table_entry
from looptool.sim import SimServer, SimSettings
from looptool.store import ResumePolicy, read_json
from looptool.synth.seed import build_seed

from support import url_config

pytestmark = pytest.mark.anyio


def _model_of(annotation: typing.Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in typing.get_args(annotation):  # Optional[Model]
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            return arg
    return None


def leaf_keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every leaf key of the config model; dict[str, Model] fields get a `*` part."""
    out = []
    for name, field in model.model_fields.items():
        path = f"{prefix}.{name}" if prefix else name
        annotation = field.annotation
        inner = _model_of(annotation)
        if typing.get_origin(annotation) is dict:
            value_model = _model_of(typing.get_args(annotation)[1])
            if value_model is not None:
                out += leaf_keys(value_model, f"{path}.*")
                continue
        if inner is not None:
            out += leaf_keys(inner, path)
        else:
            out.append(path)
    return out


LEAVES = leaf_keys(RunConfig)


def test_every_config_key_is_in_the_stage_table() -> None:
    assert len(LEAVES) > 100
    missing = [key for key in LEAVES if table_entry(key) is None]
    assert missing == [], f"add these keys to looptool.config.stage_keys.STAGE_KEYS: {missing}"


def test_operational_entries_name_single_existing_keys() -> None:
    """A section marked operational would let every key added to it later escape the check."""
    for entry, stages in STAGE_KEYS.items():
        if stages == OPERATIONAL:
            assert entry in LEAVES, f"{entry} is operational but is not a leaf key of the config"
        else:
            assert any(leaf == entry or leaf.startswith(entry + ".") for leaf in LEAVES), f"{entry} names no config key"


def test_role_and_endpoint_keys_map_to_the_stages_that_use_them() -> None:
    config = {"roles": {"judge": {"endpoints": ["big"]}, "generator": {"endpoints": ["gen"]}}}
    assert set(stages_of("endpoints.big.model", config, config)) == {"verify", "judge", "expand"}
    assert stages_of("endpoints.big.base_url", config, config) == OPERATIONAL
    assert set(stages_of("roles.generator.sampling.temperature", config, config)) == {"apis", "expand"}
    assert stages_of("run.seed", config, config) == EVERY_STAGE
    assert stages_of("no.such.key", config, config) == EVERY_STAGE, "an unknown key counts as shaping everything"


def test_conflicts_only_for_stages_already_started() -> None:
    old = {"synth": {"apis": {"attempts": 16, "concurrency": 8}, "dialogs": {"count": 8}}}
    new = {"synth": {"apis": {"attempts": 32, "concurrency": 4}, "dialogs": {"count": 9}}}
    changes, conflicts = config_conflicts(old, new, {"seed/apis"})
    assert set(changes) == {"synth.apis.attempts", "synth.apis.concurrency", "synth.dialogs.count"}
    assert conflicts == ["synth.apis.attempts: 16 -> 32 (shapes seed/apis, already run)"]


async def test_resume_with_a_changed_config_is_refused_with_a_diff(tmp_path: Path) -> None:
    async with SimServer(SimSettings()) as sim:
        path = url_config(tmp_path, sim.base_url, apis=6)
        await build_seed(load_config(path), "apis")
        run = tmp_path / "run"
        resolved_before = (run / "config.resolved.json").read_bytes()
        copied_before = (run / "config.toml").read_bytes()

        changed = url_config(tmp_path, sim.base_url, apis=9, name="changed.toml").read_text().replace("seed = 11", "seed = 12")
        (tmp_path / "changed.toml").write_text(changed)
        with pytest.raises(ConfigChanged) as raised:
            await build_seed(load_config(tmp_path / "changed.toml"), "apis")
        message = str(raised.value)
        assert "synth.apis.attempts: 6 -> 9 (shapes seed/apis, already run)" in message
        assert "run.seed: 11 -> 12" in message and "--allow-config-change" in message
        assert (run / "config.resolved.json").read_bytes() == resolved_before, "the recorded config is not overwritten"
        assert (run / "config.toml").read_bytes() == copied_before

        # Keys of stages not run yet, and operational keys, may change: recorded, not refused.
        later = (
            url_config(tmp_path, sim.base_url, apis=6, dialogs=5, name="later.toml")
            .read_text()
            .replace("concurrency = 8\n[synth.dialogs]", "concurrency = 2\n[synth.dialogs]")
        )
        (tmp_path / "later.toml").write_text(later)
        await build_seed(load_config(tmp_path / "later.toml"), "apis")
        manifest = read_json(run / "manifest.json")
        change = manifest["config_changes"][-1]
        assert change["changes"] == {"synth.apis.concurrency": [8, 2], "synth.dialogs.count": [8, 5]}
        assert change["affects_stages_already_run"] == []
        assert read_json(run / "config.resolved.json")["synth"]["dialogs"]["count"] == 5

        await build_seed(load_config(tmp_path / "changed.toml"), "apis", ResumePolicy(allow_config_change=True))
    change = read_json(run / "manifest.json")["config_changes"][-1]
    assert change["allowed_by"] == "--allow-config-change"
    assert set(change["affects_stages_already_run"]) == {"run.seed", "synth.apis.attempts"}
    assert read_json(run / "config.resolved.json")["run"]["seed"] == 12


def test_cli_refuses_a_changed_config_in_one_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from looptool.cli import main

    config = tmp_path / "c.toml"
    text = url_config(tmp_path, "http://127.0.0.1:9/v1", apis=0, name="c.toml").read_text()
    assert main(["synth", "apis", str(config)]) == 0
    config.write_text(text.replace("seed = 11", "seed = 5"))
    capsys.readouterr()
    assert main(["synth", "apis", str(config)]) == 2
    out = capsys.readouterr().out
    assert "run.seed: 11 -> 5" in out and "Traceback" not in out
    assert main(["synth", "apis", str(config), "--allow-config-change"]) == 0
