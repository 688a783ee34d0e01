"""`HeadroomRetrieveTool`: lets the model fetch what Headroom left out (CCR).

A thin wrapper over `headroom_core.retrieval_answer`: the same description, argument
schema and answers as the LlamaIndex tool, the proxy and the MCP server.
"""

from __future__ import annotations

import copy
from typing import Any

from langchain_core.callbacks import CallbackManagerForToolRun
from langchain_core.tools import BaseTool
from pydantic import ConfigDict, Field, field_validator

from headroom_core import (
    DEFAULT_MODEL,
    RETRIEVE_TOOL_DESCRIPTION,
    RETRIEVE_TOOL_NAME,
    RETRIEVE_TOOL_PARAMETERS,
    retrieval_answer,
)
from headroom_integrations.langchain._messages import check_config


class HeadroomRetrieveTool(BaseTool):
    """The CCR retrieve tool, named `headroom_retrieve` to match the markers.

    Returns the stored original (or, with `query`/`limit`, the matching items or lines),
    capped at `max_tokens` (None: `headroom_core`'s default cap). A missing or unknown key,
    an expired entry, a query that matches nothing or an unreadable store come back as a
    sentence for the model, never as an exception. The argument schema is the JSON schema
    `headroom_core.RETRIEVE_TOOL_PARAMETERS`; validation is `retrieval_answer`'s, so a bad
    argument also gets an answer the model can act on.
    """

    name: str = RETRIEVE_TOOL_NAME
    description: str = RETRIEVE_TOOL_DESCRIPTION
    args_schema: Any = Field(default_factory=lambda: copy.deepcopy(RETRIEVE_TOOL_PARAMETERS))
    headroom_config: Any = Field(default=None, exclude=True)
    """Where the CCR store is (`HeadroomConfig.ccr_store` / `ccr_path`); None: the default store."""
    store: Any = Field(default=None, exclude=True)
    """An explicit CCR store; overrides `headroom_config`."""
    max_tokens: int | None = Field(default=None, ge=1)
    """Cap on one answer, in tokens of `model`; None: `headroom_core`'s default."""
    model: str = DEFAULT_MODEL
    """Model whose tokenizer counts the cap."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _check_config = field_validator("headroom_config")(classmethod(lambda cls, v: check_config(v)))

    def _run(
        self,
        key: Any = None,
        query: Any = None,
        limit: Any = None,
        run_manager: CallbackManagerForToolRun | None = None,
        **unexpected: Any,
    ) -> str:
        return retrieval_answer(
            key,
            query,
            limit,
            max_tokens=self.max_tokens,
            config=self.headroom_config,
            store=self.store,
            model=self.model,
        )

    async def _arun(
        self,
        key: Any = None,
        query: Any = None,
        limit: Any = None,
        run_manager: Any = None,
        **unexpected: Any,
    ) -> str:
        # A CCR lookup is a small local read (memory or SQLite); no need for a thread.
        return self._run(key, query, limit)
