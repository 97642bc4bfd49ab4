"""The tool pool dialogs draw from: synthesized specs plus imported real APIs.

Every entry is normalised to the OpenAI function form (looptool.tools.spec), keeps its domain and
source, and keeps the spec's "returns" schema separately (the tool agent uses it to shape results).
Imported files may hold thousands of third-party specs: a bad one is skipped with its file, index
and reason counted, never silently.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from looptool.errors import InputError
from looptool.paths import runtime_python
from looptool.store import JsonlWriter, RunStore, iter_jsonl
from looptool.synth.config import SynthSettings
from looptool.tools.spec import ToolSpecError, normalize_tool

STAGE = "seed/pool"
BFCL_DUMP_MODULE = "looptool.synth.bfcl_tools_dump"


def pool_entry(raw: Any, domain: str, source: str) -> dict[str, Any]:
    if isinstance(raw, dict) and ("domain" in raw or "backend" in raw):
        domain = str(raw.get("domain") or domain)
        raw = {k: v for k, v in raw.items() if k != "domain"}
    spec = normalize_tool({k: v for k, v in raw.items() if k != "backend"} if isinstance(raw, dict) else raw)
    entry = {"id": spec["name"], "domain": domain, "source": source, "spec": spec}
    inner = raw.get("function", raw) if isinstance(raw, dict) else {}
    if isinstance(inner, dict) and isinstance(inner.get("returns"), dict):
        entry["returns"] = inner["returns"]
    if isinstance(raw, dict) and raw.get("backend"):
        entry["backend"] = raw["backend"]
    return entry


def _specs_in(document: Any) -> Iterator[tuple[str, Any]]:
    """Specs in a ToolACE/xLAM-style file: a list of specs, or of samples holding a "tools" list."""
    items = document if isinstance(document, list) else [document]
    for index, item in enumerate(items):
        if isinstance(item, dict) and "tools" in item and "name" not in item:
            tools = item["tools"]
            if isinstance(tools, str):
                try:
                    tools = json.loads(tools)
                except ValueError:
                    yield f"[{index}].tools", {"__invalid__": "tools is a string that is not JSON"}
                    continue
            for position, tool in enumerate(tools if isinstance(tools, list) else [tools]):
                yield f"[{index}].tools[{position}]", tool
        else:
            yield f"[{index}]", item


def read_tool_file(path: Path) -> Iterator[tuple[str, Any]]:
    text = path.read_text(encoding="utf-8")
    try:
        yield from _specs_in(json.loads(text))
        return
    except ValueError:
        pass
    for line_number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield from ((f"line {line_number}{where}", spec) for where, spec in _specs_in(json.loads(line)))
            except ValueError as exc:
                raise InputError(f"{path}: line {line_number} is neither part of a JSON document nor a JSON line ({exc})") from None


def bfcl_specs(python: Path | None = None) -> Iterator[tuple[str, str, Any]]:
    """(domain, where, spec) for BFCL's function docs, read inside the bfcl runtime env."""
    python = python or runtime_python("bfcl")
    if not python.exists():
        raise InputError(f"synth.pool.import_bfcl needs the bfcl runtime at {python}: run scripts/setup_bfcl.sh")
    from looptool.train.tokencount import looptool_pythonpath

    result = subprocess.run(
        [str(python), "-m", BFCL_DUMP_MODULE], capture_output=True, text=True, check=False, env={"PYTHONPATH": looptool_pythonpath(), "PATH": "/usr/bin:/bin"}
    )
    if result.returncode != 0:
        raise InputError(f"reading BFCL function docs failed: {result.stderr.strip()[-500:]}")
    for line in result.stdout.splitlines():
        record = json.loads(line)
        yield record["domain"], record["where"], record["spec"]


def resolve_import(name: str, base_dir: Path) -> Path:
    """`@trees/x.json` names a file shipped in the package's trees/ folder; other paths are
    relative to the config's directory."""
    if name.startswith("@trees/"):
        from looptool.paths import data_dir

        return data_dir("trees") / name.removeprefix("@trees/")
    path = Path(name).expanduser()
    return path if path.is_absolute() else base_dir / path


def build_pool(store: RunStore, settings: SynthSettings, base_dir: Path) -> dict[str, Any]:
    out_path = store.path(STAGE, "tools.jsonl")
    tmp_path = out_path.with_suffix(".jsonl.partial")
    tmp_path.unlink(missing_ok=True)
    skipped: Counter[str] = Counter()
    examples: list[str] = []
    sources: Counter[str] = Counter()
    seen: set[str] = set()

    def add(writer: JsonlWriter, raw: Any, domain: str, source: str, where: str) -> None:
        try:
            entry = pool_entry(raw, domain, source)
        except ToolSpecError as error:
            skipped[f"invalid_spec[{error.field or 'spec'}]"] += 1
            if len(examples) < 5:
                examples.append(f"{where}: {error}")
            return
        if entry["id"] in seen:
            skipped["duplicate_name"] += 1
            return
        seen.add(entry["id"])
        sources[source.split(":")[0]] += 1
        writer.write(entry)

    with JsonlWriter(tmp_path) as writer:
        if settings.pool.use_synthesized:
            from looptool.synth.apis import accepted_specs

            for record in accepted_specs(store):  # unit order: the pool never depends on timing
                add(writer, record["spec"], record["domain"], "synth", record["id"])
        for name in settings.pool.import_files:
            path = resolve_import(name, base_dir)
            if not path.is_file():
                raise InputError(f"synth.pool.import_files: {path} does not exist")
            for where, raw in read_tool_file(path):
                add(writer, raw, f"import/{path.stem.lstrip('_')}", f"file:{path.name}", f"{path}{where}")
        if settings.pool.import_bfcl != "none":
            for domain, where, raw in bfcl_specs():
                if settings.pool.import_bfcl == "all" or raw.get("backend"):
                    add(writer, raw, domain, "bfcl", where)
    tmp_path.replace(out_path)
    counts: dict[str, Any] = {"pool_tools": len(seen), **{f"from[{k}]": v for k, v in sorted(sources.items())}}
    counts.update({f"skipped[{k}]": v for k, v in sorted(skipped.items())})
    if examples:
        counts["skipped_examples"] = examples
    return counts


def load_pool(store: RunStore) -> list[dict[str, Any]]:
    return list(iter_jsonl(store.path(STAGE, "tools.jsonl")))


def by_domain(pool: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in pool:
        groups.setdefault(entry["domain"], []).append(entry)
    return groups
