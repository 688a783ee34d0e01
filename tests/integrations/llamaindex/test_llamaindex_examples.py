"""Every examples/llamaindex_*.py runs offline (sockets are disabled here) and does what it says."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"


def _load(name: str) -> ModuleType:
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"headroom_example_{name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_llamaindex_example_is_tested():
    found = sorted(p.stem for p in EXAMPLES.glob("llamaindex_*.py"))
    assert found == ["llamaindex_agent", "llamaindex_chat_memory", "llamaindex_rag_budget"]


def test_rag_budget_example(capsys):
    figures = _load("llamaindex_rag_budget").main(budget=800)
    assert figures["context_tokens"] <= 800 < figures["raw_tokens"]
    assert figures["markers"] >= 1 and "symbolic" in figures["recovered"].lower()
    assert "sent to the LLM" in capsys.readouterr().out


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_agent_example(capsys):
    figures = _load("llamaindex_agent").main()
    assert figures["tools"] == ["read_datanode_log", "headroom_retrieve"]
    assert figures["seen_tokens"] < figures["raw_tokens"] / 5
    assert "blk_-8775602795571523802" in figures["answer"]
    assert "tokens seen by the agent" in capsys.readouterr().out


def test_chat_memory_example(capsys):
    figures = _load("llamaindex_chat_memory").main(budget=3000)
    assert figures["fitted_tokens"] <= 3000 < figures["stored_tokens"]
    assert figures["last"] == "Which blocks did the NameSystem ask to delete?"
    assert "get():" in capsys.readouterr().out
