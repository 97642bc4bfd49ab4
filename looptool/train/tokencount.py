"""Exact prompt token counts from the orchestrator, via a worker in the trainer's runtime env.

`RuntimeTokenCounter` is the `count_tokens` callable that `write_verl_parquet` and the pre-flight
use. It keeps one worker process (tokencount_worker) for its lifetime, so the tokenizer loads once
and each batch costs one pipe round trip. It is synchronous on purpose: the parquet writer is a
plain streaming loop; async callers run it in a worker thread (anyio.to_thread).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Sequence
from typing import IO
from pathlib import Path
from types import TracebackType

from looptool.errors import TokenCountError
from looptool.train.parquet import Messages


def looptool_pythonpath(extra: str | None = None) -> str:
    """PYTHONPATH that makes this looptool importable in a runtime env (its parent directory)."""
    root = str(Path(__file__).resolve().parents[2])
    return os.pathsep.join(p for p in (root, extra) if p)


class RuntimeTokenCounter:
    """Counts chat-template tokens with `model_dir`'s tokenizer inside `python`'s environment."""

    def __init__(self, python: Path, model_dir: Path) -> None:
        self.python = Path(python)
        self.model_dir = Path(model_dir)
        self._proc: subprocess.Popen[str] | None = None
        self._stderr: IO[str] | None = None

    def __enter__(self) -> RuntimeTokenCounter:
        env = {
            **os.environ,
            "PYTHONPATH": looptool_pythonpath(os.environ.get("PYTHONPATH")),
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
        }
        # stderr goes to a file, not a pipe nobody drains (a chatty tokenizer would block on it).
        self._stderr = stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            [str(self.python), "-m", "looptool.train.tokencount_worker", str(self.model_dir)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=env,
        )
        first = self._proc.stdout.readline() if self._proc.stdout else ""
        if not first.strip().startswith('{"ready"'):
            self._proc.kill()
            self._proc.wait()
            stderr.seek(0)
            tail = "\n".join(stderr.read().strip().splitlines()[-10:])
            stderr.close()
            raise TokenCountError(f"tokenizer worker for {self.model_dir} failed to start with {self.python}:\n{tail}")
        return self

    def __call__(self, prompts: Sequence[Messages]) -> list[int]:
        """Prompt lengths as the trainer sees them (chat template + generation prompt)."""
        return self._ask(list(prompts))

    def full(self, conversations: Sequence[Messages]) -> list[int]:
        """Lengths of whole conversations ending in the answer (an SFT sequence), no generation prompt."""
        return self._ask({"full": list(conversations)})

    def _ask(self, request: object) -> list[int]:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.stdout is None:
            raise TokenCountError("RuntimeTokenCounter used outside its `with` block")
        proc.stdin.write(json.dumps(request, ensure_ascii=False) + "\n")
        proc.stdin.flush()
        line = proc.stdout.readline()
        if not line:
            raise TokenCountError(f"tokenizer worker exited (code {proc.poll()})")
        reply = json.loads(line)
        if isinstance(reply, dict):
            raise TokenCountError(f"tokenizer {self.model_dir}: {reply.get('error')}")
        return [int(n) for n in reply]

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin:
            proc.stdin.close()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()
        if self._stderr is not None:
            self._stderr.close()
