"""Async OpenAI-compatible client layer: endpoints, retries, cache, counters, local servers."""

from looptool.llm.client import LLMClient
from looptool.llm.types import ChatRequest, Choice, CompletionRequest, LLMResult, StructuredOutput, TokenLogprob

__all__ = ["ChatRequest", "Choice", "CompletionRequest", "LLMClient", "LLMResult", "StructuredOutput", "TokenLogprob"]
