"""Data shared by the vLLM runtime tests."""

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city.",
        "strict": True,
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "enum": ["Paris", "Tokyo", "Oslo"]},
                "metric": {"type": "boolean"},
            },
            "required": ["city", "metric"],
            "additionalProperties": False,
        },
    },
}
