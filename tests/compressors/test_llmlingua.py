"""LLMLingua-2 prose compression, run for real on a tiny random BERT built in the test.

The model's keep probabilities are meaningless (random weights), so these tests assert
the structural guarantees: loading from disk, chunking to the window, word merging,
force-kept spans, the rate, CCR round trips, determinism and every fallback.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading

import pytest
from llmlingua_tiny import CORPUS, build_tiny_model, build_tiny_xlmr

from headroom_core import (
    HeadroomConfig,
    MemoryCCRStore,
    TextConfig,
    compress_text,
    get_tokenizer,
    parse_markers,
    retrieve,
)
from headroom_core._errors import MLModelUnavailableError
from headroom_core.chunks import fit_chunks, fit_context
from headroom_core.compressors.llmlingua import (
    LLMLinguaCompressor,
    WordClassifier,
    _pack,
    clear_model_cache,
    load_classifier,
    split_units,
)
from headroom_core.compressors.prose import ProseCompressor
from tests.support import make_ctx

pytest.importorskip("transformers")

DEFAULT = "microsoft/llmlingua-2-bert-base-multilingual-cased-meetingbank"
_MARKER = re.compile(r"\n?\[headroom: [^\]]*\]")

# Plain prose: few force-kept words, so the rate is the model's to spend.
PROSE = "\n\n".join([CORPUS.replace("\n", " ").strip()] * 6)

# Prose studded with what must survive verbatim.
NEEDLES = [
    "fiscal_year",
    "getUserName",
    "os.path.join",
    "2025",
    "3.14",
    "1,000",
    "https://example.com/budget/report.pdf",
    "/etc/headroom/config.toml",
    "src/app/main.py",
    '"night market"',
    "`compress_text()`",
    "v2",
    "HTTP",
    "ada@example.org",
]
STUDDED = "\n\n".join(
    [
        "The committee met on Tuesday to review the budget for fiscal_year 2025 and agreed that "
        "the library would stay open in the evenings, as the chair had promised.",
        "Several members asked whether getUserName from os.path.join could be finished before the "
        "winter, and the chair promised a written answer next week about 3.14 and 1,000 books.",
        "Residents spoke about parking, noise from the night market and the state of the river path. "
        "See https://example.com/budget/report.pdf and /etc/headroom/config.toml for the details.",
        "The council thanked the volunteers who cleaned the park, read src/app/main.py aloud, and "
        'discussed the "night market" plan with `compress_text()` in v2 over HTTP; write to '
        "ada@example.org with questions. The meeting closed at nine.",
    ]
    + [CORPUS.replace("\n", " ").strip()] * 3
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return str(build_tiny_model(tmp_path_factory.mktemp("llmlingua") / "tiny"))


@pytest.fixture(autouse=True)
def _fresh_cache():
    clear_model_cache()
    yield
    clear_model_cache()


def ml_ctx(model_dir: str, rate: float = 0.4, ccr: bool = True, **options):
    text = {"ml": "llmlingua2", "ml_model": model_dir, "ml_rate": rate, **options}
    return make_ctx("memory" if ccr else None, text=text)


def body(output: str) -> str:
    return _MARKER.sub("", output)


# --------------------------------------------------------------------------- the real path


def test_loads_from_disk_and_compresses_with_ccr_round_trip(model_dir):
    ctx = ml_ctx(model_dir)
    out = LLMLinguaCompressor().compress(STUDDED, ctx)
    assert out is not None
    assert "LLMLingua-2 kept" in out.summary
    markers = parse_markers(out.text)
    assert len(markers) == 1 and markers[0].key == out.ccr_keys[0]
    assert "LLMLingua-2 left out" in markers[0].description
    assert retrieve(out.ccr_keys[0], store=ctx.store) == STUDDED
    assert len(out.text) < len(STUDDED)


def test_xlm_roberta_with_a_unigram_tokenizer_runs_the_same_path(tmp_path):
    xlmr = str(build_tiny_xlmr(tmp_path / "xlmr"))
    classifier = load_classifier(xlmr)
    assert classifier.window == 64 and classifier.placeholder == "<unk>"
    ctx = ml_ctx(xlmr)
    out = LLMLinguaCompressor().compress(STUDDED, ctx)
    assert out is not None and out.summary.startswith("LLMLingua-2 kept")
    for needle in NEEDLES:
        assert needle in out.text, needle
    assert retrieve(out.ccr_keys[0], store=ctx.store) == STUDDED
    assert LLMLinguaCompressor().compress(STUDDED, ml_ctx(xlmr)) == out


def test_output_is_a_subsequence_of_the_original_words(model_dir):
    out = LLMLinguaCompressor().compress(STUDDED, ml_ctx(model_dir))
    assert out is not None
    words = re.findall(r"\S+", STUDDED)
    position = 0
    for unit in re.findall(r"[\w$]+", body(out.text)):
        while position < len(words) and unit not in words[position]:
            position += 1
        assert position < len(words), f"{unit!r} is not in the original, in order"


def test_identifiers_numbers_urls_paths_quotes_and_code_spans_are_kept_whole(model_dir):
    for rate in (0.1, 0.4):
        out = LLMLinguaCompressor().compress(STUDDED, ml_ctx(model_dir, rate))
        assert out is not None
        for needle in NEEDLES:
            assert needle in out.text, (rate, needle)


def test_force_kept_spans_reach_the_model_as_one_placeholder(model_dir, monkeypatch):
    seen: list[list[str]] = []
    original = WordClassifier.keep_probs

    def spy(self, words, ends, cancel=None):
        seen.append(list(words))
        return original(self, words, ends, cancel)

    monkeypatch.setattr(WordClassifier, "keep_probs", spy)
    LLMLinguaCompressor().compress(STUDDED, ml_ctx(model_dir))
    words = seen[0]
    assert "[UNK]" in words
    assert not any("example.com" in w or "config.toml" in w or "fiscal_year" in w for w in words)


def test_rate_is_respected_within_tolerance(model_dir):
    tokenizer = get_tokenizer("gpt-4o")
    before = tokenizer.count(PROSE)
    for rate in (0.25, 0.4, 0.6):
        out = LLMLinguaCompressor().compress(PROSE, ml_ctx(model_dir, rate))
        assert out is not None
        kept = tokenizer.count(body(out.text)) / before
        assert abs(kept - rate) <= 0.1, (rate, kept)


def test_words_of_the_question_are_kept(model_dir):
    ctx = ml_ctx(model_dir, 0.1)
    ctx = type(ctx)(
        config=ctx.config, tokenizer=ctx.tokenizer, store=ctx.store, query="Which volunteers cleaned?"
    )
    out = LLMLinguaCompressor().compress(PROSE, ctx)
    assert out is not None
    assert body(out.text).count("volunteers") == PROSE.count("volunteers")
    assert body(out.text).count("cleaned") == PROSE.count("cleaned")


def test_chinese_is_split_per_character_and_rejoined_without_spaces(model_dir):
    sentence = "委员会在周二开会审查预算，并同意图书馆晚上继续开放。"
    units = split_units(sentence)
    assert len(units) == len(sentence) and sum(u.forced for u in units) == 1  # the full stop
    text = "\n\n".join([sentence * 4] * 8)
    out = LLMLinguaCompressor().compress(text, ml_ctx(model_dir, min_prose_tokens=50))
    assert out is not None
    kept = body(out.text)
    assert " " not in kept.replace("\n", "") and len(kept) < len(text)


def test_deterministic_across_calls_and_reloads(model_dir):
    first = LLMLinguaCompressor().compress(STUDDED, ml_ctx(model_dir))
    second = LLMLinguaCompressor().compress(STUDDED, ml_ctx(model_dir))
    clear_model_cache()
    third = LLMLinguaCompressor().compress(STUDDED, ml_ctx(model_dir))
    assert first is not None and first == second == third


def test_long_text_is_chunked_to_the_model_window(model_dir, monkeypatch):
    classifier = load_classifier(model_dir)
    assert classifier.window == 64  # the tiny model's max_position_embeddings
    lengths: list[int] = []
    original = classifier.tokenizer.__class__.__call__

    def counting(self, *args, **kwargs):
        encoded = original(self, *args, **kwargs)
        if kwargs.get("is_split_into_words"):
            lengths.extend(len(ids) for ids in encoded["input_ids"])
        return encoded

    monkeypatch.setattr(classifier.tokenizer.__class__, "__call__", counting)
    out = LLMLinguaCompressor().compress(PROSE, ml_ctx(model_dir))
    assert out is not None
    assert len(lengths) > 10 and max(lengths) <= 64


def test_every_word_gets_a_probability(model_dir):
    classifier = load_classifier(model_dir)
    words = CORPUS.split() * 3
    ends = [w.endswith(".") for w in words]
    probs = classifier.keep_probs(words, ends)
    assert len(probs) == len(words)
    assert all(0.0 < p < 1.0 for p in probs)


@pytest.mark.parametrize("room", [1, 5, 17, 62])
def test_pack_cuts_at_sentence_ends_within_the_window(room):
    counts = [1, 2, 3, 1, 1, 4, 2, 2, 1, 30, 1, 1] * 5
    ends = [i % 4 == 3 for i in range(len(counts))]
    chunks = _pack(counts, ends, room)
    assert chunks[0][0] == 0 and chunks[-1][1] == len(counts)
    assert all(a < b for a, b in chunks)
    assert all(chunks[k][1] == chunks[k + 1][0] for k in range(len(chunks) - 1))
    for a, b in chunks:
        if sum(counts[a:b]) > room:
            assert b - a == 1  # only a single over-long word may exceed the window
    if room == 62:  # sentences fit: every cut is after a sentence end
        assert all(ends[b - 1] for a, b in chunks[:-1])


# --------------------------------------------------------------------------- units


def test_units_never_split_protected_spans():
    text = (
        "Read https://example.com/a_b?x=1. Then `a b c` and \"quoted words here\" and 'single one' "
        "at /usr/local/bin/tool or C:\\Users\\me\\file.txt on 12:30 with -3.5% and 1,000,000.\n"
        "```python\nx = 1\n\ny = 2\n```\nAfter the fence, don't split state-of-the-art words."
    )
    spans = {text[u.start : u.end] for u in split_units(text) if u.forced}
    for whole in (
        "https://example.com/a_b?x=1",
        "`a b c`",
        '"quoted words here"',
        "'single one'",
        "/usr/local/bin/tool",
        "C:\\Users\\me\\file.txt",
        "12:30",
        "-3.5%",
        "1,000,000",
        "```python\nx = 1\n\ny = 2\n```",
    ):
        assert whole in spans, whole
    plain = {text[u.start : u.end] for u in split_units(text) if not u.forced}
    assert {"don't", "state-of-the-art", "Read", "words"} <= plain


def test_units_cover_the_text_in_order():
    text = STUDDED + "\n- a bullet\n# heading\n"
    units = split_units(text)
    assert all(units[k].end <= units[k + 1].start for k in range(len(units) - 1))
    rebuilt = re.sub(r"\s+", "", "".join(text[u.start : u.end] for u in units))
    assert rebuilt == re.sub(r"\s+", "", text)


# --------------------------------------------------------------------------- fallbacks


def test_missing_weights_raise_a_clear_error(tmp_path):
    with pytest.raises(MLModelUnavailableError) as info:
        load_classifier(str(tmp_path / "no-such-model"))
    message = str(info.value)
    assert DEFAULT in message and f"huggingface-cli download {DEFAULT}" in message
    with pytest.raises(MLModelUnavailableError):  # not in the (offline) local cache either
        load_classifier(DEFAULT)


def test_missing_weights_fall_back_to_extractive_with_a_warning(tmp_path, caplog):
    ctx = ml_ctx(str(tmp_path / "no-such-model"))
    with caplog.at_level(logging.WARNING, logger="headroom"):
        out = LLMLinguaCompressor().compress(PROSE, ctx)
    assert out == ProseCompressor().compress(PROSE, make_ctx())
    assert any("huggingface-cli download" in r.getMessage() for r in caplog.records)


def test_missing_weights_never_fail_compress_text(tmp_path):
    store = MemoryCCRStore()
    config = HeadroomConfig(
        ccr_store=store, text=TextConfig(ml="llmlingua2", ml_model=str(tmp_path / "missing"))
    )
    result = compress_text(PROSE, config=config)  # CompressorFailedWarning would be an error here
    assert result.compressor == "llmlingua2" and result.tokens_after < result.tokens_before
    assert retrieve(result.ccr_keys[0], store=store) == PROSE


def test_timeout_falls_back_to_extractive(model_dir, monkeypatch, caplog):
    load_classifier(model_dir)
    release = threading.Event()
    original = WordClassifier.keep_probs

    def slow(self, words, ends, cancel=None):
        release.wait(10)
        return original(self, words, ends, cancel)

    monkeypatch.setattr(WordClassifier, "keep_probs", slow)
    ctx = ml_ctx(model_dir, ml_timeout_seconds=0.05)
    try:
        with caplog.at_level(logging.WARNING, logger="headroom"):
            out = LLMLinguaCompressor().compress(PROSE, ctx)
    finally:
        release.set()
    assert out == ProseCompressor().compress(PROSE, make_ctx())
    assert any("longer than" in r.getMessage() for r in caplog.records)


def test_inference_error_falls_back_to_extractive(model_dir, monkeypatch, caplog):
    def broken(self, words, ends, cancel=None):
        raise RuntimeError("CUDA out of memory")

    monkeypatch.setattr(WordClassifier, "keep_probs", broken)
    with caplog.at_level(logging.WARNING, logger="headroom"):
        out = LLMLinguaCompressor().compress(PROSE, ml_ctx(model_dir))
    assert out == ProseCompressor().compress(PROSE, make_ctx())
    assert any("out of memory" in r.getMessage() for r in caplog.records)


def test_compress_messages_uses_it_for_prose_tool_results(model_dir):
    from headroom_core import compress

    messages = [
        {"role": "user", "content": "What did the committee decide about the library?"},
        {"role": "tool", "tool_call_id": "1", "content": STUDDED},
    ]
    messages[1:1] = [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "1", "type": "function", "function": {"name": "read", "arguments": "{}"}}],
        }
    ]
    store = MemoryCCRStore()
    config = HeadroomConfig(ccr_store=store, text=TextConfig(ml="llmlingua2", ml_model=model_dir))
    first = compress(messages, config=config)
    again = compress(messages, config=config)
    assert first.messages == again.messages  # same output every turn: the prompt cache holds
    assert first.transforms_applied[-1].compressor == "llmlingua2"
    assert retrieve(first.ccr_keys[0], store=store) == STUDDED


def test_huge_text_goes_straight_to_extractive(model_dir, monkeypatch, calls_model):
    from headroom_core.compressors import llmlingua

    monkeypatch.setattr(llmlingua, "_MAX_CHARS", len(PROSE) - 1)
    out = LLMLinguaCompressor().compress(PROSE, ml_ctx(model_dir))
    assert out == ProseCompressor().compress(PROSE, make_ctx())
    assert calls_model == []


@pytest.fixture
def calls_model(monkeypatch):
    seen: list[int] = []
    original = WordClassifier.keep_probs

    def spy(self, words, ends, cancel=None):
        seen.append(len(words))
        return original(self, words, ends, cancel)

    monkeypatch.setattr(WordClassifier, "keep_probs", spy)
    return seen


def test_cancelled_work_stops_between_batches(model_dir):
    classifier = load_classifier(model_dir)
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(TimeoutError):
        classifier.keep_probs(["word"] * 10, [False] * 10, cancel)


def test_without_ccr_nothing_is_dropped(model_dir):
    assert LLMLinguaCompressor().compress(PROSE, ml_ctx(model_dir, ccr=False)) is None


def test_short_or_empty_text_is_left_alone(model_dir):
    ctx = ml_ctx(model_dir)
    assert LLMLinguaCompressor().compress("A short note.", ctx) is None
    assert LLMLinguaCompressor().compress("   \n", ctx) is None


# --------------------------------------------------------------------------- routing


@pytest.fixture
def calls(monkeypatch):
    seen: list[str] = []
    original = LLMLinguaCompressor.compress

    def spy(self, text, ctx):
        seen.append(text)
        return original(self, text, ctx)

    monkeypatch.setattr(LLMLinguaCompressor, "compress", spy)
    return seen


def _config(model_dir: str) -> HeadroomConfig:
    return HeadroomConfig(ccr_store=MemoryCCRStore(), text=TextConfig(ml="llmlingua2", ml_model=model_dir))


def test_router_sends_prose_only(model_dir, calls):
    config = _config(model_dir)
    records = [
        {"id": i, "name": f"user{i}", "email": f"u{i}@example.com", "active": i % 2 == 0} for i in range(80)
    ]
    code = "\n".join(
        f"def handler_{i}(request):\n    value = request.get('k{i}')\n    return value * {i}\n"
        for i in range(40)
    )
    log = "\n".join(
        f"2025-01-01 12:00:{i % 60:02d} INFO worker-{i % 4} processed job {i} in {i * 3} ms"
        for i in range(200)
    )
    diff = "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,40 +1,40 @@\n" + "\n".join(
        f"-old_line_{i} = {i}\n+new_line_{i} = {i + 1}" for i in range(40)
    )
    grep = "\n".join(f"src/module_{i}.py:{i + 10}:    result = compute_value({i})" for i in range(120))
    for other in (json.dumps(records, indent=2), code, log, diff, grep):
        result = compress_text(other, config=config)
        assert "llmlingua2" not in result.compressor
    assert calls == []
    result = compress_text(PROSE, config=config)
    assert result.compressor == "llmlingua2" and calls


def test_off_by_default_and_disable_switch(model_dir, calls):
    assert compress_text(PROSE, config=HeadroomConfig(ccr_store=MemoryCCRStore())).compressor == "prose"
    config = _config(model_dir).with_(disabled_compressors={"llmlingua2"})
    assert compress_text(PROSE, config=config).compressor == "prose"
    assert calls == []


def test_nothing_ml_is_imported_unless_enabled():
    code = (
        "import sys\n"
        "from headroom_core import compress_text, HeadroomConfig, MemoryCCRStore\n"
        f"text = {PROSE!r}\n"
        "r = compress_text(text, config=HeadroomConfig(ccr_store=MemoryCCRStore()))\n"
        "assert r.compressor == 'prose', r.compressor\n"
        "print(sorted(m for m in ('torch', 'transformers', 'tokenizers') if m in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert done.stdout.strip() == "[]"


# --------------------------------------------------------------------------- RAG strategy


def test_fit_chunks_strategy_llmlingua2(model_dir, calls):
    config = HeadroomConfig(ccr_store=MemoryCCRStore(), text=TextConfig(ml_model=model_dir))
    extractive = fit_chunks([PROSE], token_budget=500, config=config)
    ml = fit_chunks([PROSE], token_budget=500, config=config, strategy="llmlingua2")
    assert extractive[0].reason == ml[0].reason == "compressed"
    assert extractive[0].text != ml[0].text and calls
    fitted = fit_context([PROSE, STUDDED], token_budget=900, config=config, strategy="llmlingua2")
    assert fitted.context_tokens <= 900 and fitted.kept
    with pytest.raises(ValueError, match="strategy"):
        fit_chunks([PROSE], token_budget=10, strategy="abstractive")


def test_adapters_pass_the_strategy_through(model_dir, calls):
    pytest.importorskip("langchain_core")
    pytest.importorskip("llama_index.core")
    from langchain_core.documents import Document
    from llama_index.core.schema import NodeWithScore, TextNode

    from headroom_integrations.langchain.retrievers import HeadroomDocumentCompressor
    from headroom_integrations.llamaindex.postprocessor import HeadroomNodePostprocessor

    config = HeadroomConfig(ccr_store=MemoryCCRStore(), text=TextConfig(ml_model=model_dir))
    compressor = HeadroomDocumentCompressor(token_budget=500, strategy="llmlingua2", headroom_config=config)
    docs = compressor.compress_documents([Document(page_content=PROSE)], "budget")
    assert docs and calls
    calls.clear()
    post = HeadroomNodePostprocessor(token_budget=500, strategy="llmlingua2", config=config)
    nodes = post.postprocess_nodes([NodeWithScore(node=TextNode(text=PROSE), score=1.0)], query_str="budget")
    assert nodes and calls


# --------------------------------------------------------------------------- config


def test_proxy_settings_reach_the_text_config(tmp_path):
    from headroom_proxy._settings import ProxyConfigError, resolve_settings

    toml = tmp_path / "headroom.toml"
    toml.write_text('[proxy]\nml = "llmlingua2"\nml_model = "/models/ll2"\nml_rate = 0.3\n')
    text = resolve_settings({}, env={}, config_file=str(toml)).headroom_config().text
    assert (text.ml, text.ml_model, text.ml_rate) == ("llmlingua2", "/models/ll2", 0.3)
    env = {"HEADROOM_ML": "llmlingua2"}
    assert resolve_settings({}, env=env).headroom_config().text.ml_model == DEFAULT
    assert resolve_settings({}, env={}).headroom_config().text.ml is None
    with pytest.raises(ProxyConfigError, match="ml must be"):
        resolve_settings({}, env={"HEADROOM_ML": "gpt"})
    with pytest.raises(ProxyConfigError, match="ml_rate"):
        resolve_settings({}, env={"HEADROOM_ML": "llmlingua2", "HEADROOM_ML_RATE": "2"})


@pytest.mark.parametrize(
    "options",
    [
        {"ml": "llmlingua"},
        {"ml_rate": 0},
        {"ml_rate": 1.5},
        {"ml_timeout_seconds": 0},
        {"ml_model": ""},
        {"ml_model": None},
        {"ml_device": ""},
        {"ml_allow_download": "yes"},
    ],
)
def test_config_validates_its_ml_fields(options):
    with pytest.raises((TypeError, ValueError)):
        TextConfig(**options)


def test_config_defaults_name_the_published_model():
    config = TextConfig()
    assert config.ml is None and config.ml_model == DEFAULT and config.ml_device == "cpu"
    assert not config.ml_allow_download


def test_units_of_hostile_text_are_bounded():
    # Near-miss patterns (no timing here: the adversarial benchmarks time such inputs).
    hostile = "a+" * 20_000 + '"' * 5_000 + "`" * 5_000 + "http://" + "." * 10_000 + "1," * 5_000
    units = split_units(hostile)
    assert units[0].end - units[0].start == 40_000 - 1  # one a+a+... word, force-kept
    assert all(u.end - u.start <= 40_000 for u in units)
