"""Regression tests for the LangChain adapter defects of issue 10 (callbacks, imports, tools)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage, ToolMessage
from langchain_core.tools import ToolException, tool
from lc_fakes import make_orders

from headroom_core import count_tokens
from headroom_integrations.langchain import HeadroomCallbackHandler, wrap_tools
from headroom_integrations.langchain.callbacks import UNKNOWN_MODEL

ROOT = Path(__file__).parents[3]
ORDERS_JSON = json.dumps(make_orders(600))


@tool
def list_orders(day: str) -> str:
    """Every order of `day`, as JSON rows."""
    return ORDERS_JSON


def test_wrapped_tool_is_counted_once_with_what_the_model_received(hconfig):
    (wrapped,) = wrap_tools([list_orders], config=hconfig)
    handler = HeadroomCallbackHandler()
    call = {"type": "tool_call", "name": "list_orders", "args": {"day": "monday"}, "id": "call-1"}
    message = wrapped.invoke(call, config={"callbacks": [handler]})
    assert isinstance(message, ToolMessage)
    stats = handler.summary()["tools"]["list_orders"]
    assert stats["calls"] == 1
    # Output tokens are those of the compressed content only, not raw + compressed.
    assert stats["output_tokens"] == count_tokens(message.content)
    assert stats["output_tokens"] < count_tokens(ORDERS_JSON) / 3
    assert stats["tokens_saved"] == count_tokens(ORDERS_JSON) - count_tokens(message.content)


def test_wrapped_tool_error_is_counted_once(hconfig):
    @tool
    def broken(day: str) -> str:
        """Always fails."""
        raise ToolException("backend down")

    broken.handle_tool_error = True
    (wrapped,) = wrap_tools([broken], config=hconfig)
    handler = HeadroomCallbackHandler()
    call = {"type": "tool_call", "name": "broken", "args": {"day": "x"}, "id": "call-2"}
    out = wrapped.invoke(call, config={"callbacks": [handler]})
    assert out.status == "error"
    assert handler.summary()["tools"]["broken"]["calls"] == 1


def test_unnamed_chat_model_is_reported_unpriced_not_as_gpt_4o():
    model = GenericFakeChatModel(messages=iter([AIMessage("hi")]))  # says no model name
    handler = HeadroomCallbackHandler()
    model.invoke([HumanMessage("hello there")], config={"callbacks": [handler]})
    summary = handler.summary()
    assert set(summary["models"]) == {UNKNOWN_MODEL}
    assert summary["models"][UNKNOWN_MODEL]["priced"] is False
    assert summary["unpriced_models"] == [UNKNOWN_MODEL]
    assert summary["cost_usd"] == 0 and summary["calls"][0]["cost_usd"] is None
    assert summary["tokens_sent"] > 0  # still counted
    assert "gpt-4o" not in summary["models"]


def test_named_model_is_still_priced():
    handler = HeadroomCallbackHandler(pricing={"gpt-4o": (2.0, 8.0)})
    from uuid import uuid4

    from langchain_core.outputs import ChatGeneration, LLMResult

    run_id = uuid4()
    handler.on_chat_model_start(
        {}, [[HumanMessage("hi")]], run_id=run_id, invocation_params={"model": "gpt-4o"}
    )
    usage = {"input_tokens": 1000, "output_tokens": 0, "total_tokens": 1000}
    handler.on_llm_end(
        LLMResult(generations=[[ChatGeneration(message=AIMessage("x", usage_metadata=usage))]]), run_id=run_id
    )
    summary = handler.summary()
    assert summary["unpriced_models"] == [] and summary["cost_usd"] == pytest.approx(0.002)


def test_wrap_tools_rejects_plain_functions_clearly():
    def search(q: str) -> str:
        return q

    with pytest.raises(
        TypeError, match=r"item 0 is a function, not a LangChain BaseTool.*langchain_core\.tools\.tool"
    ):
        wrap_tools([search])
    with pytest.raises(TypeError, match="expected a list of LangChain tools"):
        wrap_tools(list_orders)


def _import_without(blocked: str, statement: str) -> subprocess.CompletedProcess:
    code = f"import sys; sys.modules[{blocked!r}] = None\n{statement}"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_adapter_without_langchain_core_names_the_extra():
    done = _import_without("langchain_core", "import headroom_integrations.langchain")
    assert done.returncode != 0
    assert "ImportError: headroom_integrations.langchain needs langchain-core" in done.stderr
    assert "pip install 'headroom-ai[langchain]'" in done.stderr


def test_core_pieces_import_without_langchain_and_langgraph():
    statement = (
        "import sys; sys.modules['langgraph'] = None\n"
        "from headroom_integrations.langchain import HeadroomRunnable, HeadroomRetrieveTool, wrap_tools\n"
        "assert 'langchain.agents' not in sys.modules\n"
        "try:\n"
        "    from headroom_integrations.langchain import HeadroomMiddleware\n"
        "except ImportError as exc:\n"
        "    print(exc)\n"
    )
    done = _import_without("langchain", statement)
    assert done.returncode == 0, done.stderr
    assert "pip install 'headroom-ai[langchain-agents]'" in done.stdout


def test_packages_ship_py_typed_and_a_license():
    import tomllib

    assert (ROOT / "headroom_integrations" / "py.typed").exists()
    package_data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in package_data["headroom_integrations"]
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text


def test_version_is_written_in_one_place():
    import tomllib

    import headroom_core
    from headroom_core._version import __version__

    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    assert headroom_core.__version__ == __version__


def test_shrink_marker_never_says_zero_lines(hconfig):
    from headroom_integrations.langchain import compress_messages

    one_line = " ".join(f"token{i}" for i in range(4000))  # a single long line, no newline
    messages = [
        HumanMessage("Summarise the export."),
        AIMessage("", tool_calls=[{"name": "export", "args": {}, "id": "c1"}]),
        ToolMessage(one_line, tool_call_id="c1"),  # the newest turn: shrunk, not dropped
    ]
    config = hconfig.with_(compress_tool_outputs=False)  # only the budget's shrink step runs
    out = compress_messages(messages, config=config, token_budget=1500).messages
    text = "\n".join(str(m.content) for m in out)
    assert "more tokens of this output omitted" in text
    assert "(0 lines)" not in text
