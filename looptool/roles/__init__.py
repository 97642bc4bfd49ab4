"""Role runtime: role cards (agents/*.toml), prompt templates (prompts/*.md), output schemas,
and the caller that turns (card, variables) into a request and the answer into parsed data."""
