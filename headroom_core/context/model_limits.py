"""Context-window sizes (input + output tokens) of common models, by name prefix.

Used when `ContextConfig.fit_to_model_window` is on and no explicit budget is given:
the budget is the window minus `ContextConfig.reserve_output_tokens`. Figures are the
providers' published limits; unknown models get a conservative 128k.
"""

from __future__ import annotations

DEFAULT_CONTEXT_WINDOW = 128_000

# Checked in order: the first prefix that matches wins, so specific names come first.
_WINDOWS: tuple[tuple[str, int], ...] = (
    ("gpt-4o", 128_000),
    ("chatgpt-4o", 128_000),
    ("gpt-4.1", 1_047_576),
    ("gpt-4.5", 128_000),
    ("gpt-5", 400_000),
    ("gpt-oss", 131_072),
    ("o1-mini", 128_000),
    ("o1", 200_000),
    ("o3", 200_000),
    ("o4", 200_000),
    ("gpt-4-turbo", 128_000),
    ("gpt-4-1106", 128_000),
    ("gpt-4-0125", 128_000),
    ("gpt-4-32k", 32_768),
    ("gpt-4", 8_192),
    ("gpt-3.5-turbo-instruct", 4_096),
    ("gpt-3.5", 16_385),
    ("gpt-35", 16_385),
    ("claude-2", 100_000),
    ("claude", 200_000),
    ("anthropic", 200_000),
    ("gemini-1.5-pro", 2_097_152),
    ("gemini", 1_048_576),
    ("gemma", 8_192),
    ("llama-3.1", 131_072),
    ("llama-3.2", 131_072),
    ("llama-3.3", 131_072),
    ("llama-4", 1_048_576),
    ("llama", 8_192),
    ("mistral-large", 131_072),
    ("mistral-small", 32_768),
    ("mixtral", 32_768),
    ("mistral", 32_768),
    ("codestral", 256_000),
)


def context_window(model: str) -> int:
    """The model's context window in tokens (a conservative default for unknown names)."""
    name = model.lower().strip()
    name = name.rsplit("/", 1)[-1]  # "openai/gpt-4o" -> "gpt-4o"
    for prefix, window in _WINDOWS:
        if name.startswith(prefix):
            return window
    return DEFAULT_CONTEXT_WINDOW
