"""Exception hierarchy: callers catch precisely what they can handle.

`LoopToolError` is the root. Configuration problems stop a run before any request; LLM errors are
recorded against the item that caused them so a stage can go on with the rest.
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
