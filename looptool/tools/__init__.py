"""Tool calls core: specs, validation, parsing, rendering, ToolMatch and the GRPO reward.

Imports only the stdlib and jsonschema, because reward workers import it inside the verl, TRL
and bfcl runtime environments (PYTHONPATH=<checkout>).
"""

from looptool.tools.calls import ToolCall
from looptool.tools.match import toolmatch
from looptool.tools.match_result import MatchResult
from looptool.tools.parse import ParseResult, parse_openai_tool_calls, parse_tool_calls
from looptool.tools.render import (
    render_calls_text,
    render_openai_messages,
    render_paper_messages,
    render_system_prompt,
)
from looptool.errors import ToolSpecError
from looptool.tools.spec import ToolSpec, load_tool, load_tools, normalize_tool
from looptool.tools.validate import CallIssue, validate_call

__all__ = [
    "CallIssue",
    "MatchResult",
    "ParseResult",
    "ToolCall",
    "ToolSpec",
    "ToolSpecError",
    "load_tool",
    "load_tools",
    "normalize_tool",
    "parse_openai_tool_calls",
    "parse_tool_calls",
    "render_calls_text",
    "render_openai_messages",
    "render_paper_messages",
    "render_system_prompt",
    "toolmatch",
    "validate_call",
]
