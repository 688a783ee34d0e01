"""`HeadroomRetrieveTool`: lets the model fetch what Headroom left out (CCR)."""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import CallbackManagerForToolRun
from langchain_core.tools import BaseTool
from pydantic import BaseModel, ConfigDict, Field, field_validator

from headroom_core import RETRIEVE_TOOL_NAME, CCRKeyNotFoundError, CCRStoreError, retrieve
from headroom_integrations.langchain._messages import check_config

_DESCRIPTION = (
    "Fetch content that Headroom compressed away. Compressed tool outputs contain markers like "
    '[headroom: 1,843 items omitted; retrieve with headroom_retrieve(key="...")]. Call this tool '
    "with that key to get the full original back, or add a `query` (and optionally `limit`) to "
    "get only the stored items or lines that match it."
)


class HeadroomRetrieveInput(BaseModel):
    """Arguments of `headroom_retrieve`."""

    key: str = Field(description="The key from a headroom marker, e.g. 3f9a0c... (24 hex characters).")
    query: str | None = Field(
        default=None, description="Optional search words: return only the stored items/lines matching them."
    )
    limit: int | None = Field(default=None, ge=1, description="Optional: at most this many items/lines.")


class HeadroomRetrieveTool(BaseTool):
    """The CCR retrieve tool, named `headroom_retrieve` to match the markers.

    Returns the stored original (or, with `query`/`limit`, the matching items or lines).
    Unknown or expired keys produce a clear message for the model, not an exception.
    """

    name: str = RETRIEVE_TOOL_NAME
    description: str = _DESCRIPTION
    args_schema: type[BaseModel] = HeadroomRetrieveInput
    headroom_config: Any = Field(default=None, exclude=True)
    """Where the CCR store is (`HeadroomConfig.ccr_store` / `ccr_path`); None: the default store."""
    store: Any = Field(default=None, exclude=True)
    """An explicit CCR store; overrides `headroom_config`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    _check_config = field_validator("headroom_config")(classmethod(lambda cls, v: check_config(v)))

    def _run(
        self,
        key: str,
        query: str | None = None,
        limit: int | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> str:
        try:
            found = retrieve(key, query=query, limit=limit, store=self.store, config=self.headroom_config)
        except CCRKeyNotFoundError:
            return (
                f"No stored content for key {key!r}: the key is unknown, or its entry expired or was "
                "evicted. Continue with the compressed content you already have."
            )
        except CCRStoreError as exc:
            return f"The stored content for key {key!r} cannot be read ({exc})."
        if query is not None and found in ("", "[]"):
            return (
                f"Nothing stored under key {key!r} matches the query {query!r}. "
                "Call again without a query to get the whole original."
            )
        return found

    async def _arun(
        self,
        key: str,
        query: str | None = None,
        limit: int | None = None,
        run_manager: Any = None,
    ) -> str:
        # A CCR lookup is a small local read (memory or SQLite); no need for a thread.
        return self._run(key, query, limit)
