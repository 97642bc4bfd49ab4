"""Exception hierarchy: callers catch precisely what they can handle.

`LoopToolError` is the root of every error the engine raises on purpose, grouped by what a caller
can do about it (as httpx groups its exceptions)::

    LoopToolError
    ├── ConfigError            a run config or role card is wrong (stops before any request)
    │   └── ConfigChanged
    ├── InputError             a data file is malformed: names where and why
    │   ├── TreeError, ToolSpecError, ConstraintError, GroundTruthError, PreflightError
    ├── LLMError               an endpoint failed; recorded against the unit that caused it
    │   ├── TransientLLMError, RequestRejected, RetriesExhausted
    │   ├── NoEndpointAvailable, EndpointsUnreachable (stops the stage early)
    ├── OutputInvalid          the model answered, but not in the form the task needs
    ├── RuntimeProblem         a local runtime the engine drives is missing or failed
    │   ├── RuntimeMissingError, ModelBuildError, VLLMServerError, TokenCountError
    │   └── BfclWorkerError
    ├── StageError             a stage could not complete; what it wrote stays on disk
    │   ├── StageIncomplete, TrainerFailed, BfclWorkerDied
    └── StorageError           the run directory cannot be written

`run_units` records any `LoopToolError` raised by one unit against that unit and goes on with the
rest (except `StorageError` and errors with `stops_stage`); any other exception is a bug and stops
the stage. Errors that grew up as `ValueError` / `RuntimeError` keep that as a second base, so
code that catches the builtin still catches them.

This module imports nothing but the standard library: the bfcl runtime's worker imports it too.
"""

from __future__ import annotations


class LoopToolError(Exception):
    """Root of every error the engine raises on purpose."""


class ConfigError(LoopToolError):
    """A run config, role card or other input file is wrong; the message names file, key and why."""

    def __init__(self, source: str, key: str | None, reason: str) -> None:
        self.source = source
        self.key = key
        self.reason = reason
        where = f"{source}: {key}" if key else source
        super().__init__(f"{where}: {reason}")


class InputError(LoopToolError):
    """A data file (dataset row, tool spec file) is malformed; the message names where and why."""


class StageError(LoopToolError):
    """A stage could not complete; what it already wrote stays on disk."""


# -- bad input files ---------------------------------------------------------------------------


class ToolSpecError(InputError, ValueError):
    """A tool spec that cannot be used; the message names the tool and the field."""

    def __init__(self, tool: str, field: str, reason: str):
        self.tool = tool
        self.field = field
        self.reason = reason
        super().__init__(f"tool {tool!r}: field {field!r}: {reason}")


class ConstraintError(InputError, ValueError):
    """A constraint block is malformed; `key` names the offending key ("" for the block itself)."""

    def __init__(self, key: str, reason: str) -> None:
        self.key = key
        self.reason = reason
        super().__init__(f"{key}: {reason}" if key else reason)


class GroundTruthError(InputError, ValueError):
    """A ground-truth call string is not a plain call with literal arguments."""


# -- local runtimes ----------------------------------------------------------------------------


class RuntimeProblem(LoopToolError, RuntimeError):
    """A local runtime the engine drives (a runtime venv, a model build, a vLLM server, a worker
    process) is missing or failed; the message is complete (it names the log or the setup
    command), so the CLI prints it without a traceback."""


class RuntimeMissingError(RuntimeProblem):
    """A heavy runtime's virtual environment is absent; the message names the setup command."""


class ModelBuildError(RuntimeProblem):
    """A model build script failed; the message carries the tail of its output."""


class VLLMServerError(RuntimeProblem):
    """A local vLLM server failed to start, died, or could not be stopped."""


class TokenCountError(RuntimeProblem):
    """The tokenizer worker could not start or could not measure a prompt."""


class LLMError(LoopToolError):
    """Base of every endpoint failure; `endpoint` names the endpoint that failed last."""

    retryable = False

    def __init__(self, message: str, *, endpoint: str | None = None, status: int | None = None) -> None:
        self.endpoint = endpoint
        self.status = status
        super().__init__(message)


class TransientLLMError(LLMError):
    """429, 5xx, timeouts, dropped connections, truncated bodies: worth another attempt.

    `kind` is a short stable code (connection_refused, connection_dropped, timeout, http_503,
    invalid_body, ...) so failed units can be counted by cause."""

    retryable = True

    def __init__(
        self,
        message: str,
        *,
        endpoint: str | None = None,
        status: int | None = None,
        retry_after: float | None = None,
        connection_failed: bool = False,
        kind: str | None = None,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status)
        self.retry_after = retry_after
        self.connection_failed = connection_failed
        self.kind = kind or (f"http_{status}" if status else ("connection_refused" if connection_failed else "transient"))


class RequestRejected(LLMError):
    """A 4xx other than 429: the request itself is wrong, retrying cannot help."""

    @property
    def reason(self) -> str:
        return f"rejected:http_{self.status}" if self.status else "rejected"


class RetriesExhausted(LLMError):
    """Every attempt failed with a transient error; `last` is the final one."""

    def __init__(self, message: str, *, attempts: int, last: LLMError) -> None:
        super().__init__(message, endpoint=last.endpoint, status=last.status)
        self.attempts = attempts
        self.last = last

    @property
    def reason(self) -> str:
        return f"retries_exhausted:{getattr(self.last, 'kind', type(self.last).__name__)}"


class NoEndpointAvailable(LLMError):
    """Every endpoint of a role is marked down."""


class EndpointsUnreachable(LLMError):
    """Every endpoint of a role has refused connections for longer than the grace period.

    Every other unit of the stage would fail the same way, so the stage stops early with this
    cause instead of spending the whole retry budget of each unit."""

    reason = "endpoints_unreachable"
    stops_stage = True


class StorageError(LoopToolError):
    """The run directory (or the request cache) cannot be written: disk full, read-only, no
    permission. The message names the path and the operating system's cause; nothing already
    written is changed."""


class StageIncomplete(StageError):
    """A stage ended with units that have no final record (failed, or not attempted after an
    early stop). It is recorded as incomplete; a rerun retries exactly those units."""
