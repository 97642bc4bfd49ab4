"""The tool pool dialogs draw from: synthesized specs plus imported real APIs.

Every entry is normalised to the OpenAI function form (looptool.tools.spec), keeps its domain and
source, and keeps the spec's "returns" schema separately (the tool agent uses it to shape results).
Imported files are checked before any request (`check_import_files`, run by the config loader):
a missing or non-UTF-8 file, a line that is not JSON, an invalid or oversized spec, a pattern that
cannot be run safely, a tool name imported twice: each is one error naming the file, the index and
the reason. `synth.pool.skip_invalid_imports = true` skips bad specs instead (thousands of
third-party specs may hold a few), counted by reason with examples, never silently.
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
import anyio

from looptool.stages import Stage, StageContext, StageOutcome
from looptool.store import JsonlWriter, RunStore, iter_jsonl
from looptool.synth import keys
from looptool.synth.config import SynthSettings
from looptool.tools.patterns import first_unsafe_pattern
from looptool.errors import ToolSpecError
from looptool.tools.spec import normalize_tool

STAGE = keys.POOL
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


MAX_DESCRIPTION_CHARS = 32_000  # BFCL's longest is a few thousand; more is not a tool description
MAX_SPEC_CHARS = 512_000


def _decode(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc})") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def _json(text: str) -> Any:
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to be a tool spec") from None


def read_tool_file(path: Path) -> Iterator[tuple[str, Any]]:
    text = _decode(path)
    try:
        document = _json(text)
    except ValueError as exc:
        if "nested too deeply" in str(exc):
            raise InputError(f"{path}: {exc}") from None
        document = None
    if document is not None:
        yield from _specs_in(document)
        return
    for line_number, line in enumerate(text.splitlines(), start=1):
        if line.strip():
            try:
                yield from ((f"line {line_number}{where}", spec) for where, spec in _specs_in(_json(line)))
            except ValueError as exc:
                raise InputError(f"{path}: line {line_number} is neither part of a JSON document nor a JSON line ({exc})") from None


def spec_problem(raw: Any) -> str | None:
    """Why an imported spec cannot enter the pool, beyond normalize_tool's own checks."""
    inner = raw.get("function", raw) if isinstance(raw, dict) else {}
    description = inner.get("description") if isinstance(inner, dict) else None
    if isinstance(description, str) and len(description) > MAX_DESCRIPTION_CHARS:
        return f"description of {len(description)} characters, limit {MAX_DESCRIPTION_CHARS}"
    try:
        size = len(json.dumps(raw, ensure_ascii=False))
    except (TypeError, ValueError, RecursionError):
        return "not JSON-serialisable or nested too deeply"
    if size > MAX_SPEC_CHARS:
        return f"{size} characters of JSON, limit {MAX_SPEC_CHARS}"
    unsafe = first_unsafe_pattern(inner.get("parameters") if isinstance(inner, dict) else None)
    if unsafe is not None:
        return f"parameters.{unsafe[0]}: {unsafe[1]}"
    return None


def import_entries(path: Path) -> Iterator[tuple[str, dict[str, Any] | ToolSpecError | str]]:
    """(where, pool entry) for each spec of an import file, or (where, why it is invalid)."""
    for where, raw in read_tool_file(path):
        if isinstance(raw, dict) and "__invalid__" in raw:
            yield f"{path}{where}", str(raw["__invalid__"])
            continue
        problem = spec_problem(raw)
        if problem is not None:
            yield f"{path}{where}", problem
            continue
        try:
            yield f"{path}{where}", pool_entry(raw, f"import/{path.stem.lstrip('_')}", f"file:{path.name}")
        except ToolSpecError as error:
            yield f"{path}{where}", error


def check_import_files(names: list[str], base_dir: Path) -> list[tuple[int, str]]:
    """(position in import_files, problem) for every file or spec that cannot be imported, and
    every tool name imported twice (with both places); empty when all is well. Runs before any
    request (`looptool check` too)."""
    problems: list[tuple[int, str]] = []
    first_seen: dict[str, str] = {}
    for position, name in enumerate(names):
        path = resolve_import(name, base_dir)
        if not path.exists():
            problems.append((position, f"{path} does not exist"))
            continue
        if not path.is_file():
            problems.append((position, f"{path} is not a file"))
            continue
        try:
            for where, entry in import_entries(path):
                if not isinstance(entry, dict):
                    problems.append((position, f"{where}: {entry}"))
                elif entry["id"] in first_seen:
                    problems.append((position, f"{where}: tool name {entry['id']!r} already imported from {first_seen[entry['id']]}"))
                else:
                    first_seen[entry["id"]] = where
        except InputError as error:
            problems.append((position, str(error)))
    return problems


def bfcl_specs(python: Path | None = None) -> Iterator[tuple[str, str, Any]]:
    """(domain, where, spec) for BFCL's function docs, read inside the bfcl runtime env."""
    python = python or runtime_python("bfcl")
    if not python.exists():
        raise InputError(f"synth.pool.import_bfcl needs the bfcl runtime at {python}: run scripts/setup_bfcl.sh")
    from looptool.train.tokencount import looptool_pythonpath

    result = subprocess.run(
        [str(python), "-m", BFCL_DUMP_MODULE],
        capture_output=True,
        text=True,
        check=False,
        env={"PYTHONPATH": looptool_pythonpath(), "PATH": "/usr/bin:/bin"},
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
        add_entry(writer, entry, where)

    def add_entry(writer: JsonlWriter, entry: dict[str, Any], where: str) -> None:
        if entry["id"] in seen:
            skipped["duplicate_name"] += 1
            return
        seen.add(entry["id"])
        sources[entry["source"].split(":")[0]] += 1
        writer.write(entry)

    with JsonlWriter(tmp_path) as writer:
        if settings.pool.use_synthesized:
            for record in accepted_specs(store):  # unit order: the pool never depends on timing
                add(writer, record["spec"], record["domain"], "synth", record["id"])
        if not settings.pool.skip_invalid_imports:
            problems = check_import_files(settings.pool.import_files, base_dir)
            if problems:
                position, problem = problems[0]
                more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
                raise InputError(f"synth.pool.import_files[{position}]: {problem}{more}")
        for name in settings.pool.import_files:
            path = resolve_import(name, base_dir)
            if not path.is_file():
                raise InputError(f"synth.pool.import_files: {path} does not exist")
            for where, entry in import_entries(path):
                if isinstance(entry, dict):
                    add_entry(writer, entry, where)
                else:
                    field = entry.field if isinstance(entry, ToolSpecError) else "spec"
                    skipped[f"invalid_spec[{field or 'spec'}]"] += 1
                    if len(examples) < 5:
                        examples.append(f"{where}: {entry}")
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


def accepted_specs(store: RunStore) -> list[dict[str, Any]]:
    """The specs that survived API synthesis, in unit order (what the tool pool takes)."""
    return list(iter_jsonl(store.path(keys.APIS, "accepted.jsonl")))


def load_pool(store: RunStore) -> list[dict[str, Any]]:
    return list(iter_jsonl(store.path(STAGE, "tools.jsonl")))


def by_domain(pool: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    groups: dict[str, list[dict[str, Any]]] = {}
    for entry in pool:
        groups.setdefault(entry["domain"], []).append(entry)
    return groups


class PoolStage(Stage):
    """Seed stage 2: the tool pool (synthesised specs and imported tools), no LLM calls."""

    key, title = STAGE, "tool pool"
    skip_message = "{key}: finished earlier ({finished_at}), skipped"

    def __init__(self, settings: SynthSettings, base_dir: Path) -> None:
        self.settings = settings
        self.base_dir = base_dir

    async def run(self, ctx: StageContext) -> StageOutcome:
        counts = await anyio.to_thread.run_sync(lambda: build_pool(ctx.store, self.settings, self.base_dir))
        return StageOutcome(counts=counts)
