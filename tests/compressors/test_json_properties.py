"""Property tests for SmartCrusher over random JSON documents (hypothesis)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom_core import MemoryCCRStore, parse_markers, retrieve
from headroom_core._ccr import load
from headroom_core._relevance import terms
from headroom_core.compressors.json import (
    TABLE_HEADER_PREFIX,
    SmartCrusher,
    crush,
    expand_output,
    parse_table_text,
)
from tests.support import make_ctx

# Text without lone surrogates (orjson cannot encode them; such input is not JSON we get).
text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=30)
words = st.sampled_from(["alpha", "beta", "gamma", "error", "failed", "ok", "Zoë", "日本", "ünï", "x-1"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    text,
    words,
)
values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=6), st.dictionaries(text, children, max_size=5)),
    max_leaves=20,
)


@st.composite
def records(draw: Any) -> list[dict[str, Any]]:
    """An array of records that share most fields, with some noise."""
    fields = draw(
        st.lists(
            st.sampled_from(["id", "status", "amount", "name", "url", "tags", "note"]),
            min_size=1,
            max_size=6,
            unique=True,
        )
    )
    n = draw(st.integers(min_value=0, max_value=60))
    noisy = draw(st.booleans())
    rows = []
    for i in range(n):
        row: dict[str, Any] = {}
        for name in fields:
            if name == "id":
                row[name] = draw(st.one_of(st.just(i), st.just(f"item-{i}")))
            elif name == "url":
                row[name] = f"https://x.example/items/{i}"
            elif name == "amount":
                row[name] = draw(st.one_of(st.integers(-5, 100), st.floats(-1e6, 1e6)))
            elif name == "status":
                row[name] = draw(st.sampled_from(["ok", "ok", "ok", "failed", "pending"]))
            elif name == "name":
                row[name] = draw(st.one_of(words, text))
            else:
                row[name] = draw(values)
        if noisy and draw(st.integers(0, 9)) == 0:
            row["extra"] = draw(values)
        rows.append(row)
    return rows


documents = st.one_of(
    records(),
    st.builds(lambda rows, meta: {"meta": meta, "data": {"rows": rows}}, records(), values),
    st.lists(scalars, max_size=80),
    st.lists(values, max_size=30),
    st.dictionaries(text, st.one_of(records(), values), max_size=4),
)


def _node(doc: Any, path: list[Any]) -> Any:
    for step in path:
        doc = doc[step]
    return doc


def _leaf_values(node: Any) -> list[Any]:
    if isinstance(node, dict):
        return [leaf for value in node.values() for leaf in _leaf_values(value)]
    if isinstance(node, list):
        return [leaf for value in node for leaf in _leaf_values(value)]
    # Strings and numbers identify an item; null and booleans match most items alike.
    return [node] if isinstance(node, (str, int, float)) and not isinstance(node, bool) else []


def _check_form(out_text: str) -> None:
    if out_text.startswith(TABLE_HEADER_PREFIX):
        parse_table_text(out_text)
    else:
        orjson.loads(out_text)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    doc=documents,
    query=st.one_of(st.none(), words),
    indent=st.booleans(),
    table=st.booleans(),
    target=st.sampled_from([0.05, 0.35, 0.9]),
)
def test_random_json(doc: Any, query: str | None, indent: bool, table: bool, target: float) -> None:
    source = orjson.dumps(doc, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    store = MemoryCCRStore()
    ctx = make_ctx(
        store,
        query=query,
        json={"min_items": 4, "map_min_keys": 4, "allow_table_form": table, "target_ratio": target},
    )
    out = crush(source, ctx)  # the raw function: internal errors would surface here
    again = crush(
        source,
        make_ctx(
            MemoryCCRStore(),
            query=query,
            json={"min_items": 4, "map_min_keys": 4, "allow_table_form": table, "target_ratio": target},
        ),
    )
    assert (out is None) == (again is None)
    if out is None:
        return
    assert out.text == again.text and out.ccr_keys == again.ccr_keys  # deterministic
    _check_form(out.text)
    if not table:
        assert not out.text.startswith(TABLE_HEADER_PREFIX)
    original = orjson.loads(source)
    if not out.ccr_keys:
        assert not parse_markers(out.text)
        assert expand_output(out.text) == original  # lossless means lossless
        return
    (key,) = out.ccr_keys
    assert {m.key for m in parse_markers(out.text)} == {key}
    assert retrieve(key, store=store) == source  # byte-identical
    meta, _ = load(store, key)
    for path in meta["paths"]:
        node = _node(original, path)
        assert isinstance(node, (list, dict))
        items = node if isinstance(node, list) else [{k: v} for k, v in node.items()]  # a map's entries
        for item in items[:8]:
            item_text = orjson.dumps(item).decode()
            value_terms = terms(" ".join(str(leaf) for leaf in _leaf_values(item)))
            if not any(t.isascii() and t.isalnum() for t in value_terms):
                continue  # field names alone do not make an item findable (issue 10.2)
            found = orjson.loads(retrieve(key, query=item_text, store=store))
            assert item in found


@settings(max_examples=40, deadline=None)
@given(doc=documents)
def test_ccr_disabled_is_lossless(doc: Any) -> None:
    source = orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode()
    out = SmartCrusher().compress(source, make_ctx(None, json={"min_items": 4, "target_ratio": 0.05}))
    if out is None:
        return
    assert out.ccr_keys == ()
    assert expand_output(out.text) == orjson.loads(source)


@settings(max_examples=40, deadline=None)
@given(raw=st.text(max_size=200))
def test_arbitrary_text_never_raises(raw: str) -> None:
    out = SmartCrusher().compress(raw, make_ctx(MemoryCCRStore(), query="error"))
    assert out is None or isinstance(out.text, str)


error_records = st.lists(
    st.dictionaries(
        st.sampled_from(["status", "Level", "error", "msg", "success", "code", "detail", "name", "inner"]),
        st.one_of(
            st.sampled_from(["failed", "ok", "ERROR", " fatal ", "done", "", "Timed out", "ValueError: x"]),
            st.sampled_from([0, 200, 503, 599, 600, True, False, None, [], {}]),
            st.dictionaries(
                st.sampled_from(["state", "error", "x"]), st.sampled_from(["failed", "ok", 1, None])
            ),
        ),
        max_size=5,
    )
    | st.sampled_from(["ERROR boom", "fine", 3, ["Traceback (most recent call last)"]]),
    max_size=30,
)


@settings(max_examples=80, deadline=None)
@given(items=error_records)
def test_columnar_error_test_matches_the_per_item_test(items: list[Any]) -> None:
    from headroom_core.compressors.json._signals import _columns, _error_indices, _is_error_item

    texts = [orjson.dumps(item).decode() for item in items]
    expected = [i for i, item in enumerate(items) if _is_error_item(item, texts[i])]
    assert _error_indices(items, texts, _columns(items)) == expected
    assert _error_indices(items, texts, None) == expected
