"""Importance factors (errors, references, relevance, recency) and the learning store."""

from __future__ import annotations

import os

import orjson
import pytest

from headroom_core import HeadroomConfig, MemoryCCRStore, make_marker, manage_context, retrieve
from headroom_core._ccr import stash
from headroom_core._config import ContextConfig
from headroom_core.context.importance import has_error, ref_tokens
from headroom_core.context.learning_store import LearningStore, learning_path_for, record_retrieval
from tests.support import openai_tool_turn

SYSTEM = {"role": "system", "content": "You are a build assistant."}


def _listing(t: int, extra: str = "") -> str:
    lines = [f"src/pkg{t}/module_{k}.txt size {100 + k}" for k in range(25)]
    if extra:
        lines.insert(5, extra)
    return "\n".join(lines)


def _session(special: dict[int, str], question: str = "What next?", turns: int = 10) -> list[dict]:
    messages = [SYSTEM, {"role": "user", "content": "Check the build."}]
    for t in range(turns):
        messages += openai_tool_turn(_listing(t, special.get(t, "")), call_id=f"c{t}", tool="ls")
    messages.append({"role": "user", "content": question})
    return messages


def _action(report, message_index: int) -> str:
    return next(d.action for d in report.decisions if message_index in d.message_indices)


def _decision(report, message_index: int):
    return next(d for d in report.decisions if message_index in d.message_indices)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('Traceback (most recent call last):\n  File "x.py"', True),
        ("ValueError: bad input", True),
        ("process exited with code 2", True),
        ("exit code 0", False),
        ('{"status": "failed", "id": 3}', True),
        ('{"status": "ok"}', False),
        ('{"status_code": 503}', True),
        ('{"error": null}', False),
        ("tests/test_x.py::test_a FAILED", True),
        ("all 12 checks passed", False),
        ("3 tests failed", True),
        ("0 failed", False),
        ("error[E0308]: mismatched types", True),
        ("no errors found in the mirror", False),
    ],
)
def test_error_signals(text, expected):
    assert has_error(text) is expected


def test_reference_tokens():
    tokens = ref_tokens("see ord_12345, app.py, INC-4521 and 48213 but not the or 2024")
    assert {"ord_12345", "app.py", "INC-4521", "48213"} <= tokens
    assert "the" not in tokens and "2024" not in tokens


def _fit(messages, config, budget=700):
    return manage_context(messages, model="gpt-4o", config=config, token_budget=budget)


def test_error_output_outlives_older_and_newer_peers(config):
    messages = _session({1: "Traceback (most recent call last):\nOSError: disk full"})
    _, report = _fit(messages, config)
    error_unit = _decision(report, 4)  # turn 1's tool result
    assert error_unit.factors["errors"] == 1.0
    assert error_unit.action == "kept"
    assert _action(report, 6) == "dropped"  # turn 2, newer but ordinary


def test_referenced_output_is_kept(config):
    messages = _session({0: "release key KX-88213 issued"}, question="Is KX-88213 still valid?")
    plain = _session({0: "release key issued"}, question="Is it still valid?")
    _, report = _fit(messages, config)
    _, plain_report = _fit(plain, config)
    assert _decision(report, 3).factors["relevance"] > 0
    assert _action(report, 3) == "kept"
    assert _action(plain_report, 3) == "dropped"


def test_later_mention_counts_as_reference(config):
    messages = _session({0: "artifact build_7781 uploaded"})
    messages.insert(-1, {"role": "assistant", "content": "I will compare against build_7781."})
    _, report = _fit(messages, config)
    assert _decision(report, 3).factors["references"] > 0
    assert _decision(report, 5).factors["references"] == 0


def test_recency_orders_equal_units(config):
    _, report = _fit(_session({}), config)
    tool_units = [d for d in report.decisions if d.tool_names]
    scores = [d.factors["recency"] for d in tool_units]
    assert scores == sorted(scores)
    assert tool_units[0].action == "dropped" and tool_units[-1].action == "kept"


# ------------------------------------------------------------------ learning store


def test_retrieval_is_learned_and_raises_priority(tmp_path):
    store = MemoryCCRStore()
    config = HeadroomConfig(
        ccr_store=store,
        context=ContextConfig(learning=True, learning_path=str(tmp_path), strategy="importance"),
    )
    original = "\n".join(f"deploy log line {k}" for k in range(50))
    key = stash(store, original, "text", unit="line")
    marker = make_marker("50 lines omitted", key)

    def session() -> list[dict]:
        messages = [SYSTEM, {"role": "user", "content": "Check the build."}]
        for t in range(10):
            name = "deploy_log" if t == 0 else "ls"
            output = f"deploy summary\n{marker}" if t == 0 else _listing(t)
            messages += openai_tool_turn(output, call_id=f"c{t}", tool=name)
        messages.append({"role": "user", "content": "What next?"})
        return messages

    _, first = _fit(session(), config, budget=500)
    assert _decision(first, 3).factors["learned"] == 0.0
    assert retrieve(key, store=store, config=config) == original  # the hook records this

    learning = LearningStore(learning_path_for(config))
    assert learning.stats("deploy_log").retrieved == 1
    assert learning.stats("ls").retrieved == 0
    _, second = _fit(session(), config, budget=500)
    assert _decision(second, 3).factors["learned"] > 0
    assert _decision(second, 3).score > _decision(first, 3).score
    # a second retrieval of the same key is not counted twice
    retrieve(key, store=store, config=config)
    assert LearningStore(learning_path_for(config)).stats("deploy_log").retrieved == 1


def test_references_are_learned_per_field(config):
    rows = [{"invoice_id": f"INV-{5000 + k}", "amount": k, "memo": "routine"} for k in range(12)]
    messages = [SYSTEM, {"role": "user", "content": "Check invoices."}]
    messages += openai_tool_turn(orjson.dumps(rows).decode(), call_id="c0", tool="list_invoices")
    messages += openai_tool_turn(_listing(1), call_id="c1", tool="ls")
    messages.append({"role": "user", "content": "Why is INV-5003 unpaid?"})
    _fit(messages, config, budget=300)
    _fit(messages, config, budget=100_000)  # the same outputs again: not counted twice
    learning = LearningStore(learning_path_for(config))
    assert learning.stats("list_invoices").referenced == 1
    assert learning.fields("list_invoices") == {"invoice_id": 1}
    assert learning.stats("ls").referenced == 0


def test_learning_off_writes_nothing(tmp_path):
    config = HeadroomConfig(
        ccr_store=MemoryCCRStore(), context=ContextConfig(learning=False, learning_path=str(tmp_path))
    )
    _fit(_session({0: "KX-88213"}, question="KX-88213?"), config)
    record_retrieval("0" * 24, config)
    assert os.listdir(tmp_path) == []


def test_corrupt_or_foreign_file_is_ignored(tmp_path, config):
    path = learning_path_for(config)
    with open(path, "wb") as fh:
        fh.write(b"\x00not json")
    _, report = _fit(_session({}), config)
    assert report.dropped
    with open(path, "wb") as fh:
        fh.write(orjson.dumps({"v": 999, "tools": []}))
    assert LearningStore(path).stats("ls").seen == 0


def test_store_is_bounded(tmp_path):
    path = str(tmp_path / "l.json")
    learning = LearningStore(path, max_tools=3, max_keys=5)
    for i in range(20):
        learning.observe_output(f"{i:024x}", f"tool{i}")
    learning.save()
    with open(path, "rb") as fh:
        data = orjson.loads(fh.read())
    assert len(data["keys"]) == 5 and len(data["tools"]) == 3
    assert list(data["keys"]) == [f"{i:024x}" for i in range(15, 20)]


def test_retrieval_hook_never_raises(tmp_path, monkeypatch, caplog):
    """The hook credits a retrieval when it can, and otherwise logs and returns: it never
    fails the retrieval it is told about."""
    key = "ab" * 12

    def learning_config(path) -> HeadroomConfig:
        return HeadroomConfig(
            context=ContextConfig(learning=True, learning_path=str(path), strategy="importance")
        )

    good = tmp_path / "learning.json"
    seeded = LearningStore(str(good))
    seeded.observe_output(key, "ls")
    seeded.save()
    # A key as a model quotes it (quotes, upper case) is credited to the tool that produced it.
    assert record_retrieval(f'"{key.upper()}"', learning_config(good)) is None
    assert LearningStore(str(good)).stats("ls").retrieved == 1

    blocker = tmp_path / "file"
    blocker.write_text("x")
    record_retrieval(key, learning_config(blocker / "sub" / "l.json"))  # unwritable path
    record_retrieval(None, object())  # nonsense arguments
    assert blocker.read_text() == "x" and not caplog.records

    def broken(config):
        raise OSError("disk on fire")

    monkeypatch.setattr("headroom_core.context.learning_store.open_store", broken)
    with caplog.at_level("WARNING", logger="headroom"):
        assert record_retrieval(key, learning_config(good)) is None
    assert [r.name for r in caplog.records] == ["headroom.context"]
    assert "disk on fire" in caplog.records[0].getMessage()
    assert LearningStore(str(good)).stats("ls").retrieved == 1  # nothing half-written


def test_default_learning_path_follows_ccr_dir(monkeypatch, tmp_path):
    from headroom_core.context.learning_store import FILE_NAME, default_learning_path

    monkeypatch.setenv("HEADROOM_CCR_DIR", str(tmp_path))
    assert default_learning_path() == os.path.join(str(tmp_path), FILE_NAME)
    assert learning_path_for(HeadroomConfig()) == default_learning_path()
    custom = HeadroomConfig(context=ContextConfig(learning_path=str(tmp_path / "x.json")))
    assert learning_path_for(custom) == str(tmp_path / "x.json")
