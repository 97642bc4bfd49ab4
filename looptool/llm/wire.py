"""Request payloads and response parsing for the OpenAI-compatible wire format.

Kept apart from the client so the dialect differences (vLLM extensions vs plain OpenAI) live in one
place and can be tested without a server.
"""

from __future__ import annotations

import json
from typing import Any

from looptool.errors import RequestRejected, TransientLLMError
from looptool.llm.types import (
    ChatRequest,
    Choice,
    CompletionRequest,
    LLMResult,
    StructuredOutput,
    TokenLogprob,
    Usage,
)

CHOICE_WRAPPER_KEY = "choice"


# Keywords grammar engines reject or mishandle (vLLM's xgrammar refuses the whole request for
# uniqueItems, multipleOf, unsupported formats, pattern+length pairs). They are dropped from the
# schema sent to the server only; the caller still validates answers against the full schema.
_WIRE_DROPPED = frozenset({"uniqueItems", "contains", "minContains", "maxContains", "multipleOf", "propertyNames", "format", "$schema"})


_SCHEMA_MAPS = frozenset({"properties", "patternProperties", "$defs", "definitions", "dependentSchemas"})


def wire_schema(schema: Any) -> Any:
    """`schema` without the dropped keywords; property *names* are never touched."""
    if isinstance(schema, list):
        return [wire_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _WIRE_DROPPED:
            continue
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            out[key] = {name: wire_schema(sub) for name, sub in value.items()}
        elif key in ("enum", "const", "default", "examples", "required"):
            out[key] = value
        else:
            out[key] = wire_schema(value)
    if "pattern" in out:
        for bound in ("minLength", "maxLength"):
            out.pop(bound, None)
    # Grammar engines run in strict mode (xgrammar: unevaluated properties/items are false), so an
    # open-ended object or array must say so, or it could only ever be {} or [].
    declared = out.get("type")
    types: list[Any] = declared if isinstance(declared, list) else [declared]
    if "object" in types and "properties" not in out and "additionalProperties" not in out:
        out["additionalProperties"] = True
    if "array" in types and "items" not in out and "prefixItems" not in out:
        out["items"] = {}
    return out


def _wire_tool(tool: dict[str, Any]) -> dict[str, Any]:
    """A strict tool's parameters become a grammar on the server: send them sanitised too."""
    function = tool.get("function")
    if isinstance(function, dict) and function.get("strict") and isinstance(function.get("parameters"), dict):
        return {**tool, "function": {**function, "parameters": wire_schema(function["parameters"])}}
    return tool


def _structured_fields(structured: StructuredOutput, dialect: str) -> dict[str, Any]:
    if structured.kind == "json_schema":
        return {
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": structured.name, "schema": wire_schema(structured.schema or {})},
            }
        }
    if dialect == "vllm":
        return {"structured_outputs": {"choice": list(structured.choices)}}
    # Plain OpenAI has no choice constraint: ask for an object holding one enum value.
    schema = {
        "type": "object",
        "properties": {CHOICE_WRAPPER_KEY: {"type": "string", "enum": list(structured.choices)}},
        "required": [CHOICE_WRAPPER_KEY],
        "additionalProperties": False,
    }
    return {"response_format": {"type": "json_schema", "json_schema": {"name": structured.name, "schema": schema, "strict": True}}}


def chat_payload(request: ChatRequest, model: str, dialect: str) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": model, "messages": request.messages, "temperature": request.temperature}
    if request.max_tokens is not None:
        payload["max_tokens"] = request.max_tokens
    if request.n != 1:
        payload["n"] = request.n
    for name in ("top_p", "stop", "seed", "tool_choice", "top_logprobs"):
        value = getattr(request, name)
        if value is not None:
            payload[name] = value
    if request.tools is not None:
        payload["tools"] = [_wire_tool(tool) for tool in request.tools]
    if request.logprobs:
        payload["logprobs"] = True
    if request.prompt_logprobs is not None:
        if dialect != "vllm":
            raise RequestRejected(f"prompt_logprobs needs a vLLM endpoint (dialect is {dialect!r})")
        payload["prompt_logprobs"] = request.prompt_logprobs
    if request.structured is not None:
        payload.update(_structured_fields(request.structured, dialect))
    payload.update(request.extra_body)
    return payload


def completion_payload(request: CompletionRequest, model: str, dialect: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "model": model,
        "prompt": request.prompt,
        "max_tokens": request.max_tokens,
        "temperature": request.temperature,
    }
    if request.n != 1:
        payload["n"] = request.n
    if request.echo:
        payload["echo"] = True
    for name in ("logprobs", "stop", "seed"):
        value = getattr(request, name)
        if value is not None:
            payload[name] = value
    if request.prompt_logprobs is not None:
        if dialect != "vllm":
            raise RequestRejected(f"prompt_logprobs needs a vLLM endpoint (dialect is {dialect!r})")
        payload["prompt_logprobs"] = request.prompt_logprobs
    payload.update(request.extra_body)
    return payload


def _usage(body: dict[str, Any]) -> Usage:
    usage = body.get("usage") or {}
    return Usage(
        prompt_tokens=int(usage.get("prompt_tokens") or 0),
        completion_tokens=int(usage.get("completion_tokens") or 0),
    )


def _chat_logprobs(raw: Any) -> list[TokenLogprob] | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("content"), list):
        return None
    out = []
    for item in raw["content"]:
        top = [(t.get("token", ""), float(t.get("logprob", 0.0))) for t in item.get("top_logprobs") or []]
        out.append(TokenLogprob(token=item.get("token", ""), logprob=float(item.get("logprob", 0.0)), top=top))
    return out


def _completion_logprobs(raw: Any) -> list[TokenLogprob] | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("tokens"), list):
        return None
    tokens = raw["tokens"]
    values = raw.get("token_logprobs") or [None] * len(tokens)
    tops = raw.get("top_logprobs") or [None] * len(tokens)
    out = []
    for token, value, top in zip(tokens, values, tops):
        pairs = [(k, float(v)) for k, v in (top or {}).items()]
        out.append(TokenLogprob(token=token, logprob=float("nan") if value is None else float(value), top=pairs))
    return out


def parse_chat(
    body: dict[str, Any], *, endpoint: str, model: str, latency_s: float, structured: StructuredOutput | None, dialect: str
) -> LLMResult:
    raw_choices = body.get("choices")
    if not isinstance(raw_choices, list) or not raw_choices:
        raise TransientLLMError(f"{endpoint}: response has no choices", endpoint=endpoint)
    choices = []
    for position, item in enumerate(raw_choices):
        message = item.get("message") or {}
        text = message.get("content") or ""
        if structured is not None and structured.kind == "choice" and dialect != "vllm" and text:
            try:
                text = str(json.loads(text)[CHOICE_WRAPPER_KEY])
            except (ValueError, KeyError, TypeError):
                pass  # left for the stage's parser to reject with a reason
        choices.append(
            Choice(
                index=int(item.get("index", position)),
                text=text,
                finish_reason=item.get("finish_reason"),
                tool_calls=list(message.get("tool_calls") or []),
                logprobs=_chat_logprobs(item.get("logprobs")),
            )
        )
    return LLMResult(
        choices=choices,
        usage=_usage(body),
        endpoint=endpoint,
        model=model,
        latency_s=latency_s,
        prompt_logprobs=body.get("prompt_logprobs"),
        raw=body,
    )


def parse_completion(body: dict[str, Any], *, endpoint: str, model: str, latency_s: float) -> LLMResult:
    raw_choices = body.get("choices")
    if not isinstance(raw_choices, list) or not raw_choices:
        raise TransientLLMError(f"{endpoint}: response has no choices", endpoint=endpoint)
    choices = [
        Choice(
            index=int(item.get("index", position)),
            text=item.get("text") or "",
            finish_reason=item.get("finish_reason"),
            logprobs=_completion_logprobs(item.get("logprobs")),
        )
        for position, item in enumerate(raw_choices)
    ]
    prompt_logprobs = body.get("prompt_logprobs")
    if prompt_logprobs is None and raw_choices and isinstance(raw_choices[0].get("prompt_logprobs"), list):
        prompt_logprobs = raw_choices[0]["prompt_logprobs"]
    return LLMResult(
        choices=choices,
        usage=_usage(body),
        endpoint=endpoint,
        model=model,
        latency_s=latency_s,
        prompt_logprobs=prompt_logprobs,
        raw=body,
    )
