"""Load a TOML run config into typed objects, or fail before any request with one clear message.

Every failure is a `ConfigError` naming the file, the dotted key and the reason: TOML syntax,
unknown keys, wrong types, bad URLs, roles pointing at undefined endpoints, missing role cards or
prompt templates, unset API-key variables.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from looptool.config.models import ROLES, RunConfig
from looptool.roles.cards import RoleCard, SamplingConfig
from looptool.roles.schemas import schema_names
from looptool.roles.templates import PromptTemplate
from looptool.errors import ConfigError
from looptool.presets import preset_path
from looptool.paths import data_dir


def _dotted(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) if loc else "(top level)"


def _reason(error: dict[str, Any]) -> str:
    kind = error.get("type", "")
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required key is missing"
    reason = str(error.get("msg", "invalid value"))
    reason = reason.removeprefix("Value error, ")
    if "input" in error and kind not in ("value_error",):
        shown = repr(error["input"])
        if len(shown) > 80:
            shown = shown[:77] + "..."
        reason += f" (got {shown})"
    return reason


def validation_error(source: str, exc: ValidationError, prefix: tuple[Any, ...] = ()) -> ConfigError:
    """Turn a pydantic error into one ConfigError; extra problems are appended to the reason."""
    errors = exc.errors()
    first = errors[0]
    key = _dotted(prefix + tuple(first.get("loc", ())))
    reason = _reason(first)
    if len(errors) > 1:
        others = "; ".join(f"{_dotted(prefix + tuple(e.get('loc', ())))}: {_reason(e)}" for e in errors[1:4])
        reason += f" (also: {others}{'; ...' if len(errors) > 4 else ''})"
    return ConfigError(source, key, reason)


MAX_CONFIG_BYTES = 4 << 20  # a run config, role card or prompt is a few KB


def read_toml(path: Path) -> dict[str, Any]:
    source = str(path)
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(source, None, "file not found") from None
    except IsADirectoryError:
        raise ConfigError(source, None, "is a directory, expected a TOML file") from None
    except OSError as exc:
        raise ConfigError(source, None, f"cannot be read ({exc.strerror or exc})") from None
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(source, None, f"larger than {MAX_CONFIG_BYTES >> 20} MB: not a config file")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, None, f"not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(source, None, f"invalid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(source, None, "invalid TOML: values nested too deeply") from None


def parse_model(model: type[BaseModel], data: dict[str, Any], source: str, prefix: tuple[Any, ...] = ()) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(source, exc, prefix) from None


@dataclass
class LoadedConfig:
    """A validated config plus everything resolved from it (role cards, prompt texts, base dir)."""

    config: RunConfig
    source: str
    base_dir: Path
    cards: dict[str, RoleCard] = field(default_factory=dict)
    prompts: dict[str, dict[str, PromptTemplate]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    def resolve_path(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (self.base_dir / path).resolve()

    @property
    def run_dir(self) -> Path:
        return self.resolve_path(self.config.run.dir)

    def require_roles(self, roles: list[str] | tuple[str, ...]) -> None:
        """Commands call this with the roles they use, so a missing one fails before any work."""
        for role in roles:
            if role not in self.config.roles:
                raise ConfigError(self.source, f"roles.{role}", "this command needs the role but the config does not map it to an endpoint")

    def api_key(self, endpoint: str) -> str | None:
        name = self.config.endpoints[endpoint].api_key_env
        return os.environ.get(name) if name else None


def load_role_card(role: str, card_ref: str | None, source: str, base_dir: Path) -> tuple[RoleCard, dict[str, PromptTemplate]]:
    """Read agents/<role>.toml (or the card the config names) and every prompt it points at."""
    if card_ref is None:
        card_path = data_dir("agents") / f"{role}.toml"
    else:
        card_path = Path(card_ref).expanduser()
        if not card_path.is_absolute():
            card_path = (base_dir / card_path).resolve()
    if not card_path.is_file():
        raise ConfigError(source, f"roles.{role}.card", f"role card {card_path} does not exist")
    card_source = str(card_path)
    card = parse_model(RoleCard, read_toml(card_path), card_source)
    if card.role != role:
        raise ConfigError(card_source, "role", f"card is for role {card.role!r}, but roles.{role} uses it")
    if not card.tasks:
        raise ConfigError(card_source, "tasks", "a role card needs at least one [tasks.<name>] table")
    templates: dict[str, PromptTemplate] = {}
    for task_name, task in card.tasks.items():
        key = f"tasks.{task_name}"
        prompt_path = Path(task.prompt)
        if not prompt_path.is_absolute():
            prompt_path = data_dir("prompts") / task.prompt
        if not prompt_path.is_file():
            raise ConfigError(card_source, f"{key}.prompt", f"prompt template {prompt_path} does not exist")
        if task.output == "json_schema":
            if not task.schema_name:
                raise ConfigError(card_source, f"{key}.schema_name", "output 'json_schema' needs a schema_name")
            if task.schema_name not in schema_names():
                raise ConfigError(
                    card_source, f"{key}.schema_name", f"unknown schema {task.schema_name!r}; known: {', '.join(schema_names())}"
                )
        if task.output == "choice" and not task.choices:
            raise ConfigError(card_source, f"{key}.choices", "output 'choice' needs a non-empty choices list")
        try:
            templates[task_name] = PromptTemplate.load(prompt_path)
        except UnicodeDecodeError as exc:
            raise ConfigError(str(prompt_path), None, f"not UTF-8 text (offset {exc.start})") from None
        except OSError as exc:
            raise ConfigError(str(prompt_path), None, f"cannot be read ({exc.strerror or exc})") from None
    return card, templates


def validate_references(config: RunConfig, source: str) -> None:
    for name, endpoint in config.endpoints.items():
        if endpoint.launch == "none" and endpoint.base_url is None:
            raise ConfigError(source, f"endpoints.{name}.base_url", "required unless launch is 'vllm' or 'sim'")
        if endpoint.launch == "vllm" and endpoint.vllm is None:
            raise ConfigError(source, f"endpoints.{name}.vllm", f"launch = 'vllm' needs a [endpoints.{name}.vllm] table")
        if endpoint.api_key_env is not None and not endpoint.api_key_env.strip():
            raise ConfigError(source, f"endpoints.{name}.api_key_env", "is empty: name an environment variable, or leave the key out")
        if endpoint.api_key_env and endpoint.api_key_env not in os.environ:
            raise ConfigError(source, f"endpoints.{name}.api_key_env", f"environment variable {endpoint.api_key_env} is not set")
    for role, role_config in config.roles.items():
        if role not in ROLES:
            raise ConfigError(source, f"roles.{role}", f"unknown role; expected one of {', '.join(ROLES)}")
        if not role_config.endpoints:
            raise ConfigError(source, f"roles.{role}.endpoints", "needs at least one endpoint")
        for endpoint in role_config.endpoints:
            if endpoint not in config.endpoints:
                known = ", ".join(sorted(config.endpoints)) or "none"
                raise ConfigError(source, f"roles.{role}.endpoints", f"unknown endpoint {endpoint!r}; defined: {known}")


def validate_inputs(config: RunConfig, source: str, base_dir: Path) -> None:
    """What the config points at, checked before any request: the run directory, the initial
    model, tree domains, tool files to import, the BFCL runtime."""
    from looptool.paths import runtime_python

    def resolve(value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else (base_dir / path).resolve()

    run_dir = resolve(config.run.dir)
    for parent in (run_dir, *run_dir.parents):
        if parent.exists():
            if not parent.is_dir():
                raise ConfigError(source, "run.dir", f"{parent} exists and is not a directory")
            break
    if config.policy.init_model not in ("smollm2", "tiny"):
        model = resolve(config.policy.init_model)
        if not model.is_dir():
            raise ConfigError(
                source, "policy.init_model", f"{model} is not a directory (expected a Hugging Face model directory, or 'smollm2' / 'tiny')"
            )
    if config.synth.domains:
        trees = data_dir("trees")
        available = sorted(p.stem for p in trees.glob("*.json") if not p.name.startswith("_"))
        unknown = [d for d in config.synth.domains if d not in available]
        if unknown:
            raise ConfigError(
                source, "synth.domains", f"no tree for {', '.join(map(repr, unknown))} in {trees} (available: {', '.join(available)})"
            )
    pool = config.synth.pool
    if pool.import_files:
        from looptool.synth.pool import check_import_files

        problems = check_import_files(pool.import_files, base_dir)
        if pool.skip_invalid_imports:  # bad specs are skipped then; files must still be readable
            problems = [(i, p) for i, p in problems if " does not exist" in p or " is not a file" in p or "UTF-8" in p or "JSON" in p]
        if problems:
            position, problem = problems[0]
            more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
            raise ConfigError(source, f"synth.pool.import_files[{position}]", problem + more)
    if pool.import_bfcl != "none" and not runtime_python("bfcl").exists():
        raise ConfigError(
            source, "synth.pool.import_bfcl", f"needs the bfcl runtime ({runtime_python('bfcl')} is missing): run scripts/setup_bfcl.sh"
        )


def load_config_data(data: dict[str, Any], source: str, base_dir: Path) -> LoadedConfig:
    config = parse_model(RunConfig, data, source)
    validate_references(config, source)
    validate_inputs(config, source, base_dir)
    loaded = LoadedConfig(config=config, source=source, base_dir=base_dir, raw=data)
    for role, role_config in config.roles.items():
        card, templates = load_role_card(role, role_config.card, source, base_dir)
        if role_config.sampling:
            tasks = {}
            for task_name, task in card.tasks.items():
                merged = {**task.sampling.model_dump(), **role_config.sampling}
                sampling = parse_model(SamplingConfig, merged, source, ("roles", role, "sampling"))
                tasks[task_name] = task.model_copy(update={"sampling": sampling})
            card = card.model_copy(update={"tasks": tasks})
        loaded.cards[role] = card
        loaded.prompts[role] = templates
    return loaded


def load_config(path: str | Path, *, base_dir: Path | None = None) -> LoadedConfig:
    """Relative paths in the config resolve against `base_dir` (default: the config's folder)."""
    path = Path(path).expanduser().resolve()
    return load_config_data(read_toml(path), str(path), base_dir or path.parent)


def load_config_or_preset(config_arg: str | None) -> LoadedConfig:
    """A config file (a path: a missing file is a ConfigError naming it), or a preset name (or
    nothing: the quickstart), whose relative paths then live under the current directory."""
    if config_arg and (Path(config_arg).exists() or config_arg.endswith(".toml") or "/" in config_arg):
        return load_config(config_arg)
    try:
        path = preset_path(config_arg or "quickstart")
    except FileNotFoundError as exc:
        raise ConfigError(str(config_arg), None, f"no such file, and {exc}") from None
    return load_config(path, base_dir=Path.cwd())
