"""Built-in run configs shipped with the package (`looptool run` with no config uses quickstart)."""

from __future__ import annotations

from pathlib import Path

PRESETS_DIR = Path(__file__).resolve().parent


def preset_path(name: str) -> Path:
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))
        raise FileNotFoundError(f"no preset {name!r}; known: {known}")
    return path
