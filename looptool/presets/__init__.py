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


def preset_summaries() -> dict[str, str]:
    """Preset name -> the first line of its leading comment (what `looptool run --help` lists)."""
    out: dict[str, str] = {}
    for path in sorted(PRESETS_DIR.glob("*.toml")):
        first = next((line for line in path.read_text(encoding="utf-8").splitlines() if line.strip()), "")
        out[path.stem] = first.lstrip("# ").strip() if first.startswith("#") else ""
    return out


def presets_help() -> str:
    """The epilog of commands that take a config: which presets exist and what they do."""
    lines = ["presets (give the name instead of a config file; the default is quickstart):"]
    lines += [f"  {name:<11} {summary}" for name, summary in preset_summaries().items()]
    return "\n".join(lines)
