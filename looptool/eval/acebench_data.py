"""ACEBench's data (questions, function docs, ground truth), read from the copy shipped in the
package or from another copy a config names.

The shipped copy is `looptool/eval/data/acebench/` (data_all/data_en and data_all/data_zh of
chenchen0103/ACEBench, byte for byte, with its MIT licence and SOURCE.json naming the commit).
ACEBench is not on PyPI, so the data travels with the engine; `data_dir` may point at any folder
laid out like ACEBench's `data_all/` (e.g. a newer checkout) instead.

Every file is JSON lines; a question file and its `possible_answer/` file have the same ids in
the same order, which is checked here once, so a mismatched copy fails with one clear error
instead of scoring items against the wrong answers.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from looptool.errors import InputError
from looptool.eval.acebench_categories import CATEGORIES, LANGUAGES, category_of, dialog_of

SHIPPED_DIR = Path(__file__).resolve().parent / "data" / "acebench"


class AceItem(BaseModel):
    """One ACEBench item with its ground truth, as the evaluator and the oracle use it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    category: str
    language: str
    question: str
    functions: list[dict[str, Any]]
    time: str = ""
    profile: str = ""
    ground_truth: Any = None
    # agent items only
    initial_config: dict[str, Any] = Field(default_factory=dict)
    involved_classes: list[str] = Field(default_factory=list)
    mile_stone: list[Any] = Field(default_factory=list)


def data_root(data_dir: str | Path | None = None) -> Path:
    """The folder holding data_en/ and data_zh/: `data_dir` if given, else the shipped copy."""
    root = Path(data_dir).expanduser() if data_dir else SHIPPED_DIR
    if not root.is_dir():
        raise InputError(f"ACEBench data folder {root} does not exist")
    if not any((root / f"data_{lang}").is_dir() for lang in LANGUAGES):
        raise InputError(f"{root}: not an ACEBench data folder (expected data_en/ or data_zh/ inside, as in ACEBench's data_all/)")
    return root


def source_info(data_dir: str | Path | None = None) -> dict[str, Any]:
    """SOURCE.json of the data folder (repository and commit), or a note that there is none."""
    path = data_root(data_dir) / "SOURCE.json"
    if not path.exists():
        return {"repository": None, "commit": None, "path": str(path.parent)}
    info = json.loads(path.read_text(encoding="utf-8"))
    return {"repository": info.get("repository"), "commit": info.get("commit"), "path": str(path.parent)}


def _read_lines(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        raise InputError(f"{path}: missing ACEBench file")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{number}: not JSON ({exc.msg})") from None
            if not isinstance(row, dict) or not isinstance(row.get("id"), str):
                raise InputError(f"{path}:{number}: expected an object with a string 'id'")
            rows.append(row)
    return rows


def _item(row: dict[str, Any], truth: dict[str, Any], category: str, language: str, where: str) -> AceItem:
    functions = row.get("function")
    if not isinstance(functions, list) or not all(isinstance(f, dict) and isinstance(f.get("name"), str) for f in functions):
        raise InputError(f"{where}: 'function' must be a list of function docs with names")
    if not isinstance(row.get("question"), str):
        raise InputError(f"{where}: 'question' must be a string")
    try:
        return AceItem(
            id=row["id"],
            category=category,
            language=language,
            question=row["question"],
            functions=functions,
            time=row.get("time") or "",
            profile=row.get("profile") or "",
            ground_truth=truth.get("ground_truth"),
            initial_config=row.get("initial_config") or {},
            involved_classes=row.get("involved_classes") or [],
            mile_stone=truth.get("mile_stone") or [],
        )
    except ValueError as exc:
        raise InputError(f"{where}: {exc}") from None


@lru_cache(maxsize=64)
def _load_category(root: str, language: str, category: str) -> tuple[AceItem, ...]:
    base = Path(root) / f"data_{language}"
    questions_path = base / f"data_{category}.json"
    answers_path = base / "possible_answer" / f"data_{category}.json"
    questions = _read_lines(questions_path)
    answers = _read_lines(answers_path)
    if [q["id"] for q in questions] != [a["id"] for a in answers]:
        raise InputError(f"{answers_path}: ids differ from {questions_path} (same ids in the same order expected)")
    items = []
    for number, (row, truth) in enumerate(zip(questions, answers), start=1):
        if category_of(row["id"]) != category:
            raise InputError(f"{questions_path}:{number}: id {row['id']!r} does not belong to {category}")
        items.append(_item(row, truth, category, language, f"{questions_path}:{number}"))
    return tuple(items)


def load_items(
    categories: list[str] | tuple[str, ...] = CATEGORIES,
    language: str = "en",
    *,
    data_dir: str | Path | None = None,
    limit: int | None = None,
    ids: list[str] | None = None,
) -> list[AceItem]:
    """Items of `categories` in table order; `limit` keeps the first N of each category.

    For the normal multi-turn categories `limit` counts dialogs, not turns, so a smoke test
    scores whole dialogs (ACEBench scores a dialog as one unit)."""
    if language not in LANGUAGES:
        raise InputError(f"unknown ACEBench language {language!r}; expected one of {', '.join(LANGUAGES)}")
    root = str(data_root(data_dir))
    wanted = set(ids) if ids else None
    out: list[AceItem] = []
    for category in categories:
        items = list(_load_category(root, language, category))
        if limit is not None:
            dialogs: list[str] = []
            kept = []
            for item in items:
                dialog = dialog_of(item.id)
                if dialog not in dialogs:
                    dialogs.append(dialog)
                if len(dialogs) <= limit:
                    kept.append(item)
            items = kept
        if wanted is not None:
            items = [i for i in items if i.id in wanted]
        out.extend(items)
    return out
