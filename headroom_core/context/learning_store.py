"""A small local store of what turned out to matter in tool outputs.

Per tool name (and per JSON field of its outputs) it counts how many distinct outputs
were seen, how many were later *retrieved* through CCR and how many were *referenced*
by a later message (an id, file name or value from the output mentioned again). The
importance scorer reads these counts back as a prior: outputs of tools (and fields)
that were often needed again are kept with higher priority next time.

Storage: one JSON file (default `<HEADROOM_CCR_DIR or user cache dir>/headroom-learning.json`,
or `ContextConfig.learning_path`), written atomically (temp file + rename), so it is never
half-written; concurrent writers may lose an update, never corrupt the file. It is
bounded (`learning_max_tools` tools, 32 fields each, `learning_max_keys` remembered CCR
keys) and holds only tool names, field names, counts and CCR keys -- never content.
`ContextConfig.learning = False` turns it off entirely (nothing read or written).
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
import threading
from dataclasses import dataclass
from typing import Any

import orjson

from headroom_core import _ccr

log = logging.getLogger("headroom.context")

FILE_NAME = "headroom-learning.json"
MAX_FIELDS_PER_TOOL = 32
_VERSION = 1
_lock = threading.Lock()


def default_learning_path() -> str:
    """`headroom-learning.json` beside the default CCR store's directory setting
    (`$HEADROOM_CCR_DIR` if set, else the user cache dir)."""
    return os.path.join(_ccr.cache_root(), FILE_NAME)


def learning_path_for(config: Any) -> str:
    """Where the store of a `HeadroomConfig` lives."""
    ctx = getattr(config, "context", None)
    path = getattr(ctx, "learning_path", None)
    if path:
        return path if path.endswith(".json") else os.path.join(path, FILE_NAME)
    return default_learning_path()


@dataclass(frozen=True)
class ToolStats:
    seen: int = 0
    retrieved: int = 0
    referenced: int = 0

    @property
    def rate(self) -> float:
        """Share of outputs needed again, smoothed so one lucky hit is not a certainty."""
        return min(1.0, (self.retrieved + self.referenced) / (self.seen + 2))


class LearningStore:
    """Load, update and save the statistics file. Every method is safe on a bad file."""

    def __init__(self, path: str, *, max_tools: int = 200, max_keys: int = 4000) -> None:
        self.path = path
        self.max_tools = max_tools
        self.max_keys = max_keys
        self.data = self._load()
        self.dirty = False

    # ------------------------------------------------------------------ persistence
    def _load(self) -> dict[str, Any]:
        empty: dict[str, Any] = {"v": _VERSION, "tools": {}, "keys": {}}
        try:
            with open(self.path, "rb") as fh:
                data = orjson.loads(fh.read())
        except (OSError, orjson.JSONDecodeError):
            return empty
        if not isinstance(data, dict) or data.get("v") != _VERSION:
            return empty
        if not isinstance(data.get("tools"), dict) or not isinstance(data.get("keys"), dict):
            return empty
        return data

    def save(self) -> None:
        if not self.dirty:
            return
        self._bound()
        directory = os.path.dirname(self.path) or "."
        with contextlib.suppress(OSError):
            os.makedirs(directory, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=".learning-", dir=directory)
            try:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(orjson.dumps(self.data, option=orjson.OPT_SORT_KEYS))
                os.replace(tmp, self.path)
            finally:
                if os.path.exists(tmp):
                    os.unlink(tmp)
        self.dirty = False

    def _bound(self) -> None:
        keys = self.data["keys"]
        if len(keys) > self.max_keys:  # dicts keep insertion order: drop the oldest
            for key in list(keys)[: len(keys) - self.max_keys]:
                del keys[key]
        tools = self.data["tools"]
        if len(tools) > self.max_tools:
            ranked = sorted(tools, key=lambda t: (_hits(tools[t]), tools[t].get("seen", 0), t), reverse=True)
            for name in ranked[self.max_tools :]:
                del tools[name]
        for entry in tools.values():
            fields = entry.get("fields")
            if isinstance(fields, dict) and len(fields) > MAX_FIELDS_PER_TOOL:
                ranked = sorted(fields, key=lambda f: (fields[f], f), reverse=True)
                entry["fields"] = {f: fields[f] for f in sorted(ranked[:MAX_FIELDS_PER_TOOL])}

    # ------------------------------------------------------------------ updates
    def _tool(self, name: str) -> dict[str, Any]:
        entry = self.data["tools"].get(name)
        if not isinstance(entry, dict):
            entry = self.data["tools"][name] = {"seen": 0, "retrieved": 0, "referenced": 0, "fields": {}}
        return entry

    def observe_output(self, key: str, tool: str) -> None:
        """A tool output (or a CCR key inside it) was seen; counted once per key."""
        if key in self.data["keys"]:
            return
        self.data["keys"][key] = [tool, 0]
        self._tool(tool)["seen"] += 1
        self.dirty = True

    def link_key(self, key: str, tool: str) -> None:
        """Remember which tool a CCR key came from (without counting a new output)."""
        if key not in self.data["keys"]:
            self.data["keys"][key] = [tool, 0]
            self.dirty = True

    def _flag(self, key: str, bit: int) -> str | None:
        record = self.data["keys"].get(key)
        if not (isinstance(record, list) and len(record) == 2 and isinstance(record[0], str)):
            return None
        if int(record[1]) & bit:
            return None  # already credited
        record[1] = int(record[1]) | bit
        return record[0]

    def record_reference(self, key: str, fields: list[str] = ()) -> None:  # type: ignore[assignment]
        """The output under `key` was referenced by a later message (credited once)."""
        tool = self._flag(key, 1)
        if tool is None:
            return
        entry = self._tool(tool)
        entry["referenced"] += 1
        for name in fields:
            entry["fields"][name] = entry["fields"].get(name, 0) + 1
        self.dirty = True

    def record_retrieval(self, key: str) -> bool:
        """Content under CCR `key` was retrieved; True if it was credited to a tool."""
        tool = self._flag(key, 2)
        if tool is None:
            return False
        self._tool(tool)["retrieved"] += 1
        self.dirty = True
        return True

    # ------------------------------------------------------------------ reads
    def stats(self, tool: str) -> ToolStats:
        entry = self.data["tools"].get(tool)
        if not isinstance(entry, dict):
            return ToolStats()
        return ToolStats(
            int(entry.get("seen", 0)), int(entry.get("retrieved", 0)), int(entry.get("referenced", 0))
        )

    def field_rate(self, tool: str, field: str) -> float:
        entry = self.data["tools"].get(tool)
        if not isinstance(entry, dict):
            return 0.0
        hits = (entry.get("fields") or {}).get(field, 0)
        return min(1.0, hits / (int(entry.get("seen", 0)) + 2))

    def fields(self, tool: str) -> dict[str, int]:
        entry = self.data["tools"].get(tool)
        return dict(entry.get("fields") or {}) if isinstance(entry, dict) else {}


def _hits(entry: Any) -> int:
    if not isinstance(entry, dict):
        return 0
    return int(entry.get("retrieved", 0)) + int(entry.get("referenced", 0))


def open_store(config: Any) -> LearningStore | None:
    """The learning store of a config, or None when learning is off."""
    ctx = getattr(config, "context", None)
    if ctx is None or not getattr(ctx, "learning", False):
        return None
    return LearningStore(
        learning_path_for(config), max_tools=ctx.learning_max_tools, max_keys=ctx.learning_max_keys
    )


def record_retrieval(key: str, config: Any = None) -> None:
    """Hook for `retrieve()`: credit a retrieval to the tool whose output held `key`.

    Never raises: learning must not break retrieval (a failure is logged and skipped).
    """
    try:
        if config is None:
            from headroom_core._config import HeadroomConfig

            config = HeadroomConfig()
        with _lock:
            store = open_store(config)
            if store is None:
                return
            if store.record_retrieval(str(key).strip().strip('"').lower()):
                store.save()
    except Exception as exc:  # any failure: the retrieval itself must still succeed
        log.warning("learning store: retrieval of %r not recorded (%s: %s)", key, type(exc).__name__, exc)


# CCR imports nothing above it: it tells the hooks registered with it about each retrieval.
_ccr.add_retrieval_hook(record_retrieval)
