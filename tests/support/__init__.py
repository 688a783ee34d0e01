"""What every test module shares: one `CompressContext` factory and one conversation builder.

    from tests.support import make_ctx, openai_conversation, anthropic_conversation

Test modules import from here instead of keeping their own copies, so a change to
`CompressContext` or to the message formats is made once. `tests.support.records` holds
the stored records the retrieval tests share.
"""

from __future__ import annotations

from tests.support.contexts import MODEL, TOKENIZER, make_ctx
from tests.support.conversations import (
    QUESTION,
    SYSTEM,
    anthropic_conversation,
    anthropic_tool_turn,
    openai_conversation,
    openai_tool_turn,
    tool_call,
)

__all__ = [
    "MODEL",
    "QUESTION",
    "SYSTEM",
    "TOKENIZER",
    "anthropic_conversation",
    "anthropic_tool_turn",
    "make_ctx",
    "openai_conversation",
    "openai_tool_turn",
    "tool_call",
]
