"""BlobCompressor and HtmlCompressor."""

from __future__ import annotations

import base64
import gzip
import io
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom_core import (
    HeadroomConfig,
    MemoryCCRStore,
    compress_text,
    parse_markers,
    retrieve,
)
from headroom_core.compressors import get_compressor
from headroom_core.compressors.blobs import BlobCompressor, sniff
from headroom_core.compressors.html_text import HtmlCompressor, html_to_text
from tests.support import make_ctx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", "hello " * 200)
    return buf.getvalue()


# --------------------------------------------------------------------------- blobs


def test_registered():
    assert isinstance(get_compressor("blob"), BlobCompressor)
    assert isinstance(get_compressor("html"), HtmlCompressor)


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ((FIXTURES / "pydocs_logging_flow_diagram.png").read_bytes(), "PNG image 955x758"),
        ((FIXTURES / "skimage_hubble_deep_field.jpg").read_bytes(), "JPEG image"),
        (b"GIF89a\x10\x00\x20\x00" + b"\x00" * 40, "GIF image 16x32"),
        (b"%PDF-1.7\n" + b"\x00" * 40, "PDF document"),
        (zip_bytes(), "ZIP archive"),
        (gzip.compress(b"x" * 1000, mtime=0), "gzip data"),
        (b"\x7fELF\x02\x01\x01" + b"\x00" * 40, "ELF executable"),
        (b"\x00\x01\x02\x03\xfe\xff" * 10, "binary data"),
    ],
)
def test_sniff(data, expected):
    assert sniff(data) == expected


def test_data_url_in_html_attribute_is_replaced():
    png = (FIXTURES / "pydocs_logging_flow_diagram.png").read_bytes()
    text = f'<img alt="diagram" src="data:image/png;base64,{base64.b64encode(png).decode()}"> caption text'
    store = MemoryCCRStore()
    out = BlobCompressor().compress(text, make_ctx(store))
    assert out is not None
    assert out.text.startswith(
        '<img alt="diagram" src="[headroom: data: URL (image/png, PNG image 955x758), 21,907 bytes;'
    )
    assert out.text.endswith('"> caption text')
    assert retrieve(out.ccr_keys[0], store=store) == text
    assert len(out.text) < 300


def test_raw_and_wrapped_base64_runs_keep_surrounding_text():
    gz = base64.b64encode(gzip.compress(bytes(range(256)) * 40, mtime=0)).decode()
    wrapped = "\n".join(gz[i : i + 76] for i in range(0, len(gz), 76))
    zipped = base64.b64encode(zip_bytes()).decode()
    text = f"archive: {zipped} (attached)\n-----BEGIN DATA-----\n{wrapped}\n-----END DATA-----\nthe end\n"
    store = MemoryCCRStore()
    out = BlobCompressor().compress(text, make_ctx(store))
    assert out is not None
    assert out.text.startswith("archive: [headroom: base64 ZIP archive,")
    assert "(attached)\n-----BEGIN DATA-----\n[headroom: base64 gzip data," in out.text
    assert out.text.endswith("\n-----END DATA-----\nthe end\n")
    assert len(parse_markers(out.text)) == 2
    assert retrieve(out.ccr_keys[0], store=store) == text


def test_binary_garbage_becomes_one_stub():
    raw = (FIXTURES / "skimage_hubble_deep_field.jpg").read_bytes()
    for text in (
        raw.decode("latin-1"),
        raw.decode("utf-8", "surrogateescape"),
        raw.decode("utf-8", "replace"),
    ):
        store = MemoryCCRStore()
        out = BlobCompressor().compress(text, make_ctx(store))
        assert out is not None
        assert len(parse_markers(out.text)) == 1
        assert retrieve(out.ccr_keys[0], store=store) == text
    assert "JPEG image" in BlobCompressor().compress(raw.decode("latin-1"), make_ctx()).text


def test_plain_text_and_hex_digests_are_left_alone():
    assert BlobCompressor().compress("just some words " * 50, make_ctx()) is None
    assert BlobCompressor().compress("sha256 " + "ab12" * 100, make_ctx()) is None
    assert BlobCompressor().compress("x" * 5000, make_ctx()) is None


def test_blob_without_ccr_is_left_alone():
    text = base64.b64encode(zip_bytes()).decode()
    assert BlobCompressor().compress(text, make_ctx(None)) is None


def test_pipeline_routes_base64_to_blob():
    png = (FIXTURES / "gnome_help_screenshot_shell-appts.png").read_bytes()
    store = MemoryCCRStore()
    text = base64.b64encode(png).decode()
    result = compress_text(text, config=HeadroomConfig(ccr_store=store))
    assert result.route == "blob"
    assert "PNG image" in result.text
    assert retrieve(result.ccr_keys[0], store=store) == text
    assert result.tokens_after < 60


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=0, max_size=4000), st.text(max_size=200), st.text(max_size=200))
def test_property_blobs_round_trip(data, before, after):
    for text in (before + base64.b64encode(data).decode() + after, data.decode("latin-1")):
        store = MemoryCCRStore()
        out = BlobCompressor().compress(text, make_ctx(store))
        if out is not None:
            assert len(out.text) < len(text)
            assert retrieve(out.ccr_keys[0], store=store) == text
            assert BlobCompressor().compress(text, make_ctx()).text == out.text


# --------------------------------------------------------------------------- html

PAGE = """<!DOCTYPE html>
<html lang="en"><head><title>Release notes</title>
<meta charset="utf-8"><style>body { color: red }</style>
<script>window.analytics = {track: function () {}};</script></head>
<body>
<nav><ul><li><a href="/">Home</a></li><li><a href="/docs">Docs</a></li></ul></nav>
<main>
<h1>Version 2.0</h1>
<p>This release adds <a href="/x">streaming</a> and&nbsp;fixes &amp; cleans up.</p>
<h2>Changes</h2>
<ul><li>New <b>parser</b></li><li>Faster startup</li></ul>
<table><tr><th>Option</th><th>Default</th></tr><tr><td>timeout</td><td>30 s</td></tr></table>
<pre>pip install  pkg==2.0
  --upgrade</pre>
<img src="/logo.png" alt="project logo">
</main>
<footer>© 2024 Example Corp. <a href="/privacy">Privacy</a></footer>
<script>console.log("bye")</script>
</body></html>
"""


def test_html_to_text_keeps_content_drops_boilerplate():
    text = html_to_text(PAGE)
    assert text.split("\n") == [
        "Title: Release notes",
        "# Version 2.0",
        "This release adds streaming and fixes & cleans up.",
        "## Changes",
        "- New parser",
        "- Faster startup",
        "Option | Default",
        "timeout | 30 s",
        "pip install  pkg==2.0",
        "  --upgrade",
        "[image: project logo]",
    ]
    for needle in ("# Version 2.0", "streaming and fixes & cleans up.", "## Changes", "- Faster startup"):
        assert needle in text
    assert "Option | Default" in text
    assert "timeout | 30 s" in text
    assert "pip install  pkg==2.0\n  --upgrade" in text
    assert "[image: project logo]" in text
    for gone in ("analytics", "color: red", "Home", "Privacy", "bye", "<"):
        assert gone not in text


def test_html_compressor_stashes_original():
    store = MemoryCCRStore()
    page = PAGE * 3
    out = HtmlCompressor().compress(page, make_ctx(store))
    assert out is not None
    assert out.text.endswith(")]")
    assert len(parse_markers(out.text)) == 1
    assert retrieve(out.ccr_keys[0], store=store) == page
    assert HtmlCompressor().compress(page, make_ctx(None)) is None


def test_pipeline_routes_html():
    store = MemoryCCRStore()
    page = PAGE.replace("<main>", "<main>" + "<p>Paragraph of release text that explains a change.</p>" * 30)
    result = compress_text(page, config=HeadroomConfig(ccr_store=store))
    assert result.route == "html"
    assert result.compressor == "html"
    assert retrieve(result.ccr_keys[0], store=store) == page


@pytest.mark.parametrize(
    "bad",
    [
        "<html><body><p>unclosed <b>tags <i>everywhere",
        "<<<>>></ ></p></p></div>",
        "<script>never closed",
        "<!--",
        "&#xdeadbeef;&bogus;",
    ],
)
def test_malformed_html_never_crashes(bad):
    html_to_text(bad)
    out = HtmlCompressor().compress(bad * 20, make_ctx())
    assert out is None or parse_markers(out.text)


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "<p>",
                "</p>",
                "<div>",
                "<td>",
                "<tr>",
                "<script>",
                "</script>",
                "<li>",
                "text ",
                "&amp;",
                "<br/>",
                "<pre>",
                "</pre>",
                "\n",
            ]
        ),
        max_size=200,
    )
)
def test_property_html_round_trip(parts):
    page = "".join(parts)
    store = MemoryCCRStore()
    out = HtmlCompressor().compress(page, make_ctx(store))
    if out is not None:
        assert retrieve(out.ccr_keys[0], store=store) == page
        assert HtmlCompressor().compress(page, make_ctx()).text == out.text


# --------------------------------------------------------------------------- all four: bad input

BAD_INPUTS = {
    "empty": "",
    "5mb_single_line": "2024-05-01 10:00:00 ERROR " + "ab1/" * (5 * 1024 * 1024 // 4),
    "5mb_base64_line": base64.b64encode(bytes(range(256)) * 16384).decode(),
    "binary_latin1": (FIXTURES / "skimage_page_scanned_document.png").read_bytes().decode("latin-1"),
    "lone_surrogates": "line \ud800 one\nline \udfff two\n" * 50,
    "truncated_html": PAGE[: len(PAGE) // 2],
    "truncated_pytest": (FIXTURES / "pytest_v_flask_head_tests_vs_installed_3.1.3.log").read_text()[:30000],
    "nul_and_controls": "\x00\x01\x02abc\x1b[31mred\x1b[0m\r\n" * 200,
}


@pytest.mark.parametrize("kind", ["log", "test_output", "blob", "html"])
@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_never_crashes_or_loses_data(kind, name):
    text = BAD_INPUTS[name]
    store = MemoryCCRStore()
    out = get_compressor(kind).compress(text, make_ctx(store))
    if out is not None:
        assert len(out.text) < len(text)
        assert out.ccr_keys
        assert retrieve(out.ccr_keys[0], store=store) == text
        assert [m.key for m in parse_markers(out.text)][:1] == [out.ccr_keys[0]]


def _pydoc_page() -> str:
    """Real generated HTML: the standard library's pydoc page for the json module."""
    import json as json_module
    import pydoc

    return pydoc.html.page("json", pydoc.html.document(json_module))


def test_real_pydoc_page_reduces_to_text():
    page = _pydoc_page()
    store = MemoryCCRStore()
    result = compress_text(page, config=HeadroomConfig(ccr_store=store))
    assert result.route == "html"
    assert result.compression_ratio > 0.3
    assert "JSON (JavaScript Object Notation)" in result.text
    assert "<table" not in result.text and "<a href" not in result.text
    assert retrieve(result.ccr_keys[0], store=store) == page


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_property_truncated_real_html(data):
    page = _pydoc_page()
    start = data.draw(st.integers(0, len(page)))
    piece = page[start : data.draw(st.integers(start, len(page)))]
    store = MemoryCCRStore()
    out = HtmlCompressor().compress(piece, make_ctx(store))
    if out is not None:
        assert len(out.text) < len(piece)
        assert retrieve(out.ccr_keys[0], store=store) == piece


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(["pydocs_logging_flow_diagram.png", "skimage_page_scanned_document.png"]), st.data())
def test_property_truncated_real_base64(name, data):
    encoded = base64.b64encode((FIXTURES / name).read_bytes()).decode()
    cut = data.draw(st.integers(0, len(encoded)))
    text = "payload: " + encoded[:cut] + "\nend of payload"
    store = MemoryCCRStore()
    out = BlobCompressor().compress(text, make_ctx(store))
    if out is not None:
        assert out.text.startswith("payload: [headroom: base64 PNG image")
        assert out.text.endswith("\nend of payload")
        assert retrieve(out.ccr_keys[0], store=store) == text
    else:
        assert cut < 300
