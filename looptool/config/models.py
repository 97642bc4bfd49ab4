"""Typed run configuration.

Every model forbids unknown keys, so a typo in a TOML file is an error naming the key instead of a
setting silently ignored. Stage sections are added here as stages land; defaults are the paper's.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from looptool.loop.config import LoopSettings
from looptool.synth.config import SynthSettings
from looptool.train.config import TrainSettings

ROLES: tuple[str, ...] = ("planner", "user", "assistant", "tool", "judge", "generator", "policy")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class VLLMLaunch(Strict):
    """Start and supervise a local `vllm serve` for this endpoint (see looptool.llm.vllm_server)."""

    model: str = Field(description='"smollm2", "tiny", "policy" (the current checkpoint) or a model directory')
    kv_cache_bytes: str = "512M"
    dtype: str = "auto"
    enforce_eager: bool = True
    max_model_len: int | None = 4096
    reserved_cpus: int | None = 0
    extra_args: list[str] = Field(default_factory=list, description='e.g. ["--tensor-parallel-size", "4"] on GPU nodes')
    python: str | None = Field(None, description="interpreter of a vLLM install (a GPU build on GPU nodes); default: the vllm runtime env")
    startup_timeout_s: float = 600.0


class SimLaunch(Strict):
    """Start the built-in simulator for this endpoint: a test and dry-run tool, not a model."""

    seed: int = 0
    latency_ms: float = 0.0
    wrong_call_rate: float = Field(0.0, ge=0, le=1)
    malformed_rate: float = Field(0.0, ge=0, le=1)
    judge_error_rate: float = Field(0.0, ge=0, le=1)


class EndpointConfig(Strict):
    base_url: str | None = None
    model: str = "default"
    api_key_env: str | None = None
    dialect: Literal["vllm", "openai"] = "vllm"
    max_concurrency: int = Field(64, gt=0, le=100_000)
    timeout_s: float = Field(300.0, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    http_transport: Literal["aiohttp", "httpcore"] = "aiohttp"
    launch: Literal["none", "vllm", "sim"] = "none"
    vllm: VLLMLaunch | None = None
    sim: SimLaunch | None = None

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        from urllib.parse import urlsplit

        if any(char.isspace() for char in value):
            raise ValueError(f"{value!r} contains whitespace; a URL has none")
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"{value!r} is not an http(s) URL with a host, e.g. http://127.0.0.1:8000/v1")
        try:
            parts.port  # noqa: B018 - reading the property is the check: urlsplit raises on a bad port
        except ValueError:
            raise ValueError(f"{value!r} has an invalid port") from None
        return value.rstrip("/")


class RetryConfig(Strict):
    max_attempts: int = Field(6, ge=1, le=100)
    backoff_initial_s: float = Field(0.5, ge=0)
    backoff_max_s: float = Field(20.0, ge=0)
    retry_after_max_s: float = Field(60.0, ge=0)
    endpoint_down_cooldown_s: float = Field(
        5.0, ge=0, description="pause before calling an endpoint that refused connections again (doubles while it stays down)"
    )
    unreachable_grace_s: float = Field(
        15.0, ge=0, description="when every endpoint of a role has refused connections this long, the stage stops early with that cause"
    )


class ClientConfig(Strict):
    cache: bool = True
    cache_sampled: bool = False
    retry: RetryConfig = Field(default_factory=RetryConfig)
    invalid_answer_retries: int = Field(
        3, ge=0, le=20, description="times an answer that does not parse or validate is asked again before its unit fails"
    )
    reask_temperature: float = Field(
        0.7, ge=0, le=2, description="temperature of a re-ask when the task is greedy (a greedy model repeats itself); 0 keeps it greedy"
    )


class RoleConfig(Strict):
    """`roles.judge = "a"` and `roles.judge = ["a", "b"]` are shorthand for `{endpoints = [...]}`."""

    endpoints: list[str]
    card: str | None = None
    sampling: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        if isinstance(value, (str, list)):
            return {"endpoints": value}
        return value

    @field_validator("endpoints", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class RunSection(Strict):
    name: str = "run"
    dir: str = "runs/run"
    seed: int = 0
    iterations: int = Field(2, ge=0)


class PolicySection(Strict):
    """The model being trained: where iteration 1 starts, and which tokenizer measures prompts."""

    init_model: str = Field("smollm2", description='"smollm2", "tiny" (built by the engine) or a Hugging Face model directory')
    tokenizer_runtime: Literal["trl", "verl", "vllm"] = "trl"


class RunConfig(Strict):
    run: RunSection = Field(default_factory=RunSection)
    client: ClientConfig = Field(default_factory=ClientConfig)
    endpoints: dict[str, EndpointConfig]
    roles: dict[str, RoleConfig]
    policy: PolicySection = Field(default_factory=PolicySection)
    synth: SynthSettings = Field(default_factory=SynthSettings)
    train: TrainSettings = Field(default_factory=TrainSettings)
    loop: LoopSettings = Field(default_factory=LoopSettings)
