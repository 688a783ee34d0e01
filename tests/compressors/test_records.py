"""RecordsCompressor and the router's record detection, on real record text (issue 11)."""

from __future__ import annotations

from pathlib import Path

import pytest

from headroom_core import HeadroomConfig, MemoryCCRStore, compress_text, parse_markers, retrieve
from headroom_core._router import route
from headroom_core.compressors.records import RecordsCompressor, field_key
from tests.support import make_ctx

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
RECORD_FILES = [
    "apt_cache_show_80_installed_debian12.txt",
    "apt_cache_show_python3_bash_coreutils.txt",
    "pip_show_v_requests_orjson_tiktoken.txt",
    "sysctl_a_container.txt",
    "etc_debconf.conf",
]


def read(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", RECORD_FILES)
def test_real_record_text_routes_to_records(name):
    assert [s.kind for s in route(read(name))] == ["records"]


@pytest.mark.parametrize(
    "name",
    ["loghub_HDFS_2k.log", "man_find.1.txt", "pydocs3.11_tutorial_classes.rst.txt", "var_log_dpkg.log"],
)
def test_logs_and_prose_are_not_records(name):
    assert "records" not in [s.kind for s in route(read(name))]


def test_field_key():
    assert field_key("Package: bash") == "Package"
    assert field_key("net.ipv4.tcp_syn_retries = 6") == "net.ipv4.tcp_syn_retries"
    assert field_key("Id=ssh.service") == "Id"
    assert field_key("see http://example.com") is None
    assert field_key("The answer is: yes") is None  # a sentence is not a key
    assert field_key("at 10:20:30 it failed") is None


def test_debian_stanzas_keep_the_named_package_whole_and_summarise_the_rest():
    text = read("apt_cache_show_80_installed_debian12.txt")
    ctx = make_ctx(query="what does the package cscope depend on")
    out = RecordsCompressor().compress(text, ctx)
    assert out is not None
    assert out.text.startswith("[headroom records: 96 records")
    stanza = next(b for b in text.split("\n\n") if b.startswith("Package: cscope\n"))
    depends = next(line for line in stanza.split("\n") if line.startswith("Depends:"))
    assert "Package: cscope\n" in out.text and depends in out.text
    assert "Priority (all: optional" in out.text  # field statistics
    assert "Installed-Size (all; min " in out.text  # numeric field: min / median / max
    assert "more records (Package: " in out.text  # the omitted stanzas are named
    assert len(out.text) < len(text) / 4
    markers = parse_markers(out.text)
    assert [m.key for m in markers] == list(out.ccr_keys)
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    # Retrieval with a query returns whole stanzas (unit="block").
    answer = retrieve(out.ccr_keys[0], store=ctx.store, query="cscope")
    assert "Package: cscope" in answer


def test_constant_fields_are_stated_once():
    stanzas = [
        f"Package: pkg{i}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.{i}\n"
        f"Description: package number {i}\n that does thing {i}"
        for i in range(60)
    ]
    text = "\n\n".join(stanzas) + "\n"
    out = RecordsCompressor().compress(text, make_ctx())
    assert out is not None
    assert "same in every record: Status: install ok installed; Architecture: amd64" in out.text
    assert out.text.count("Status: install ok installed") == 1


def test_rare_values_keep_their_record():
    stanzas = [f"Package: pkg{i}\nStatus: install ok installed\nVersion: 1.{i}" for i in range(100)]
    stanzas[57] = "Package: pkg57\nStatus: deinstall ok config-files\nVersion: 1.57"
    out = RecordsCompressor().compress("\n\n".join(stanzas), make_ctx())
    assert out is not None
    assert "Package: pkg57\nStatus: deinstall ok config-files" in out.text


def test_flat_dump_keeps_query_lines_and_counts_key_families():
    text = read("sysctl_a_container.txt")
    ctx = make_ctx(query="tcp_syn_retries")
    out = RecordsCompressor().compress(text, ctx)
    assert out is not None
    assert "net.ipv4.tcp_syn_retries = 6" in out.text
    assert "net.ipv6 (" in out.text and "net.ipv4 (" in out.text
    assert ctx.tokenizer.count(out.text) < ctx.tokenizer.count(text) / 10
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text


def test_ini_sections_are_records():
    text = "\n".join(
        f"[server{i}]\nhost = 10.0.0.{i}\nport = 80{i % 10}\nenabled = true\n# comment {i}\n"
        for i in range(40)
    )
    assert [s.kind for s in route(text)] == ["records"]
    out = RecordsCompressor().compress(text, make_ctx(query="server17"))
    assert out is not None
    assert "[server17]\nhost = 10.0.0.17" in out.text
    assert "enabled: true" in out.text  # constant in every section


def test_without_ccr_nothing_is_dropped():
    text = read("apt_cache_show_80_installed_debian12.txt")
    assert RecordsCompressor().compress(text, make_ctx(None)) is None


def test_through_compress_text():
    text = read("apt_cache_show_80_installed_debian12.txt")
    result = compress_text(text, config=HeadroomConfig(ccr_store=MemoryCCRStore()), query="coreutils")
    assert result.route == "records"
    assert result.tokens_after < result.tokens_before / 4
    assert "Package: coreutils" in result.text


@pytest.mark.parametrize(
    "text",
    [
        "Key: value\n" * 3,
        "a: b\n\n" * 500,
        "[x]\n" * 2000,
        "k=" + "v" * 100_000,
        "Package: a\n" + " continuation\n" * 5000,
        "\n\n\n",
        "",
    ],
)
def test_odd_record_text_never_raises(text):
    out = RecordsCompressor().compress(text, make_ctx())
    assert out is None or len(out.text) < len(text)


# `curl -sIL` of three registry URLs (real response headers, captured on 2026-11-29;
# CR line ends and trailing spaces removed).
HTTP_HEADERS = """HTTP/2 308
location: /simple/requests/
x-cache-status: BYPASS
content-length: 0
date: Sun, 29 Nov 2026 21:21:35 GMT

HTTP/2 200
content-type: text/html
content-length: 59094
accept-ranges: bytes
x-cache-status: BYPASS
x-cache-status: BYPASS
date: Sun, 29 Nov 2026 21:21:35 GMT

HTTP/2 200
content-type: application/json
content-length: 573797
accept-ranges: bytes
x-cache-status: BYPASS
x-cache-status: BYPASS
date: Sun, 29 Nov 2026 21:21:35 GMT

HTTP/1.1 200 OK
content-type: application/octet-stream
content-length: 149266
accept-ranges: bytes
x-cache-status: BYPASS
x-cache-status: BYPASS
date: Sun, 29 Nov 2026 21:21:35 GMT

"""


def test_http_headers_are_records_named_by_their_status_line():
    assert [s.kind for s in route(HTTP_HEADERS)] == ["records"]
    out = RecordsCompressor().compress(HTTP_HEADERS * 10, make_ctx(query="content-length 573797"))
    assert out is not None
    assert "content-length: 573797" in out.text
    assert "31 more records (HTTP/" in out.text and "HTTP/1.1 200 OK, HTTP/2 308" in out.text
