"""Fixtures for the trainer-stage tests: StepSamples, and the project's tiny model per runtime."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from looptool.paths import data_dir
from looptool.samples import StepSample

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name"},
                "unit": {"type": "string", "enum": ["c", "f"], "default": "c"},
            },
            "required": ["city"],
        },
    },
}
FLIGHTS = {
    "name": "search_flights",
    "description": "Search flights between two airports on a date.",
    "parameters": {
        "type": "object",
        "properties": {
            "origin": {"type": "string"},
            "destination": {"type": "string"},
            "date": {"type": "string"},
            "passengers": {"type": "integer"},
        },
        "required": ["origin", "destination", "date"],
    },
}
CITIES = ["paris", "oslo", "lima", "tokyo", "cairo", "quito", "perth", "delhi"]


def make_samples(n: int = 8, long_every: int = 0) -> list[StepSample]:
    """n samples alternating single calls, parallel calls and text answers.

    `long_every` > 0 makes every such sample's user turn very long (for overlong filtering).
    """
    samples = []
    for i in range(n):
        city = CITIES[i % len(CITIES)]
        text = f"what is the weather in {city}?"
        if i % 4 == 3:
            calls: list[dict] = []
            text = "tell me a joke about airports"
        elif i % 4 == 2:
            calls = [
                {"name": "get_weather", "arguments": {"city": city}},
                {"name": "get_weather", "arguments": {"city": CITIES[(i + 1) % len(CITIES)], "unit": "f"}},
            ]
            text = f"weather in {city} and {CITIES[(i + 1) % len(CITIES)]} (fahrenheit for the second)"
        else:
            calls = [{"name": "get_weather", "arguments": {"city": city}}]
        if long_every and i % long_every == long_every - 1:
            text = text + " please" * 600
        samples.append(
            StepSample(
                id=f"s{i:03d}",
                tools=[WEATHER, FLIGHTS],
                messages=[{"role": "user", "content": text}],
                label_calls=calls,
                current_time="2025-01-01 09:00",
            )
        )
    return samples


@pytest.fixture
def sample_factory():
    """make_samples itself, for tests that need a custom count or long prompts."""
    return make_samples


@pytest.fixture
def samples() -> list[StepSample]:
    return make_samples()


_TINY_MODELS: dict[str, Path] = {}


@pytest.fixture
def tiny_model(require_runtime, tmp_path_factory):
    """Return a function runtime -> the project's tiny Qwen3 built with that runtime's python."""

    def build(runtime: str) -> Path:
        python = require_runtime(runtime)
        if runtime not in _TINY_MODELS:
            script = data_dir("scripts") / "make_tiny_model.py"
            if not script.is_file():
                pytest.fail(f"{script} missing: the tiny-model builder is owned by the vLLM/models work")
            out = tmp_path_factory.mktemp(f"tiny_{runtime}") / "model"
            subprocess.run([str(python), str(script), str(out)], check=True, capture_output=True, text=True)
            _TINY_MODELS[runtime] = out
        return _TINY_MODELS[runtime]

    return build
