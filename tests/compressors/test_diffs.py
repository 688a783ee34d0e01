"""DiffCompressor on the real Flask diff, generated diffs (checked by applying them) and bad input."""

from __future__ import annotations

import difflib
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom_core import HeadroomConfig, MemoryCCRStore, parse_markers, retrieve
from headroom_core.compressors import get_compressor
from headroom_core.compressors.diff_compressor import DiffCompressor
from tests.support import make_ctx, openai_conversation

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
FLASK = (FIXTURES / "git_diff_flask_3.1.0..3.1.3.diff").read_text()
_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def file_sections(diff: str) -> dict[str, list[str]]:
    sections: dict[str, list[str]] = {}
    current = None
    for line in diff.split("\n"):
        if line.startswith("diff --git "):
            current = line.split(" b/", 1)[1]
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return sections


def changed_lines(lines: list[str]) -> list[str]:
    return [x for x in lines if x[:1] and x[:1] in "+-" and not x.startswith(("+++ ", "--- "))]


def apply_patch(old: list[str], patch: str) -> list[str]:
    """Apply the hunks of a one-file unified diff to `old`, checking every context and removed line."""
    lines = patch.split("\n")
    new: list[str] = []
    position = 0  # lines of `old` consumed
    i = 0
    while i < len(lines):
        m = _HUNK.match(lines[i])
        if not m:
            i += 1
            continue
        old_start, old_count = int(m[1]), int(m[2]) if m[2] is not None else 1
        first = old_start - 1 if old_count else old_start
        assert first >= position, "hunks out of order"
        new.extend(old[position:first])
        position = first
        i += 1
        seen_old = seen_new = 0
        new_count = int(m[4]) if m[4] is not None else 1
        while i < len(lines) and (seen_old < old_count or seen_new < new_count):
            line = lines[i]
            tag, body = line[:1], line[1:]
            if tag == " ":
                assert old[position] == body
                new.append(body)
                position += 1
                seen_old += 1
                seen_new += 1
            elif tag == "-":
                assert old[position] == body
                position += 1
                seen_old += 1
            elif tag == "+":
                new.append(body)
                seen_new += 1
            i += 1
        assert (seen_old, seen_new) == (old_count, new_count), "hunk header counts are wrong"
    new.extend(old[position:])
    return new


def unified(old: list[str], new: list[str], name: str = "mod.py", n: int = 3) -> str:
    body = list(difflib.unified_diff(old, new, f"a/{name}", f"b/{name}", n=n, lineterm=""))
    return f"diff --git a/{name} b/{name}\nindex 1111111..2222222 100644\n" + "\n".join(body) + "\n"


def test_registered_under_its_kind():
    assert isinstance(get_compressor("diff"), DiffCompressor)


def test_flask_diff_keeps_every_header_and_changed_line():
    ctx = make_ctx()
    out = DiffCompressor().compress(FLASK, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == FLASK
    for line in FLASK.split("\n"):
        if line.startswith(("diff --git", "--- ", "+++ ", "+", "-")):
            assert line in out.text, line
    original = sum(1 for x in FLASK.split("\n") if x.startswith(" "))
    kept = sum(1 for x in out.text.split("\n") if x.startswith(" "))
    marker = parse_markers(out.text)[0]
    assert f"{original - kept} unchanged context lines" in marker.description
    assert ctx.tokenizer.count(out.text) < ctx.tokenizer.count(FLASK)


def test_query_focus_keeps_named_file_and_counts_the_rest():
    ctx = make_ctx(query="why did sessions.py change? the session should be marked as accessed")
    out = DiffCompressor().compress(FLASK, ctx)
    assert out is not None
    before, after = file_sections(FLASK), file_sections(out.text)
    assert list(after) == list(before)  # every file still named, in order
    for line in changed_lines(before["src/flask/sessions.py"]):
        assert line in after["src/flask/sessions.py"]
    added = removed = 0
    for path, lines in before.items():
        if path == "src/flask/sessions.py":
            continue
        assert not changed_lines(after[path])
        plus = sum(1 for x in changed_lines(lines) if x.startswith("+"))
        minus = sum(1 for x in changed_lines(lines) if x.startswith("-"))
        assert f"+{plus} -{minus} lines not shown)" in "\n".join(after[path])
        added, removed = added + plus, removed + minus
    assert f"(+{added} -{removed} lines)" in parse_markers(out.text)[0].description
    assert ctx.tokenizer.count(out.text) < 0.3 * ctx.tokenizer.count(FLASK)


def test_few_files_are_not_focused():
    two = FLASK.split("diff --git a/src/flask/app.py")[0]  # CHANGES.rst and __init__.py
    out = DiffCompressor().compress(
        two, make_ctx(query="what changed in CHANGES.rst", text={"diff_focus_min_files": 6})
    )
    assert out is not None
    assert "+if not t.TYPE_CHECKING:" in out.text


def test_trimmed_flask_hunks_have_consistent_headers():
    out = DiffCompressor().compress(FLASK, make_ctx(text={"diff_context_lines": 0}))
    assert out is not None
    lines = out.text.split("\n")
    for i, line in enumerate(lines):
        m = _HUNK.match(line)
        if not m:
            continue
        old_count = int(m[2]) if m[2] is not None else 1
        new_count = int(m[4]) if m[4] is not None else 1
        body = []
        for x in lines[i + 1 :]:
            if x[:1] not in " +-\\" or (
                x.startswith(("--- ", "+++ ")) and len(body) >= old_count + new_count
            ):
                break
            body.append(x)
        olds = sum(1 for x in body if x[:1] in " -")
        news = sum(1 for x in body if x[:1] in " +")
        assert olds >= old_count and news >= new_count


def test_lockfile_generated_and_binary_diffs_become_one_line():
    lock_old = [f'    "dep{i}": "1.0.{i}",' for i in range(400)]
    lock_new = [f'    "dep{i}": "1.1.{i}",' for i in range(400)]
    min_old, min_new = ["var a=1;" * 50], ["var a=2;" * 50]
    code_old = [f"line {i}" for i in range(30)]
    code_new = [*code_old[:10], "changed line", *code_old[11:]]
    text = (
        unified(lock_old, lock_new, "package-lock.json")
        + unified(min_old, min_new, "static/app.min.js")
        + "diff --git a/logo.png b/logo.png\nindex 1..2 100644\nBinary files a/logo.png and b/logo.png differ\n"
        + unified(code_old, code_new, "src/code.py")
    )
    ctx = make_ctx()
    out = DiffCompressor().compress(text, ctx)
    assert out is not None
    assert "(lockfile diff of package-lock.json: +400 -400 lines not shown)" in out.text
    assert "dep17" not in out.text
    assert "Binary files a/logo.png and b/logo.png differ" in out.text  # already one line
    assert "+changed line" in out.text and "-line 10" in out.text
    assert "1 lockfile diff (" in parse_markers(out.text)[0].description
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text


def test_git_binary_patch_is_summarized():
    text = (
        "diff --git a/img.bin b/img.bin\nnew file mode 100644\nindex 0000000..1234567\nGIT binary patch\n"
        + "literal 2048\n"
        + "\n".join("zcmeAS@N?(olHy`uVBq!ia0vp^0wB!63?wyl1p" for _ in range(60))
        + "\n\n"
        + unified([f"x{i}" for i in range(20)], [f"x{i}" if i != 5 else "y" for i in range(20)], "a.txt")
    )
    out = DiffCompressor().compress(text, make_ctx())
    assert out is not None
    assert "(binary diff of img.bin:" in out.text
    assert "zcmeAS" not in out.text


def test_no_ccr_means_no_change():
    assert DiffCompressor().compress(FLASK, make_ctx(None)) is None


@pytest.mark.parametrize(
    "text",
    [
        "",
        "no diff here\n" * 30,
        "\x00\xff" * 1000,
        "@@ -1 +1 @@\n" + "+" + "x" * 5_000_000,
        "@@ nonsense @@\n+a\n",
    ],
    ids=["empty", "prose", "binary", "5MB-line", "bad-hunk"],
)
def test_bad_input_is_left_alone(text):
    assert DiffCompressor().compress(text, make_ctx(query="x")) is None


def test_truncated_diff_keeps_the_partial_hunk():
    cut = (
        FLASK[: FLASK.index("def test_session_accessed") + 10]
        if "def test_session_accessed" in FLASK
        else FLASK[:20000]
    )
    ctx = make_ctx()
    out = DiffCompressor().compress(cut, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == cut
    last_hunk_tail = cut.split("\n")[-3:]
    for line in last_hunk_tail:
        assert line in out.text


def test_deterministic():
    q = "sessions.py"
    assert DiffCompressor().compress(FLASK, make_ctx(query=q)) == DiffCompressor().compress(
        FLASK, make_ctx(query=q)
    )


# --------------------------------------------------------------------------- properties

_line = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\n\r\x85\u2028\u2029"), max_size=12
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    old=st.lists(_line, min_size=1, max_size=60),
    edits=st.lists(st.tuples(st.integers(0, 59), st.sampled_from(["del", "ins", "rep"]), _line), max_size=8),
    context=st.integers(0, 3),
)
def test_property_trimmed_diff_still_applies(old, edits, context):
    new = list(old)
    for pos, op, text in edits:
        pos = min(pos, len(new))
        if op == "ins":
            new.insert(pos, text)
        elif new and pos < len(new):
            if op == "del":
                del new[pos]
            else:
                new[pos] = text
    diff = unified(old, new, n=5)
    ctx = make_ctx(text={"diff_context_lines": context})
    out = DiffCompressor().compress(diff, ctx)
    again = DiffCompressor().compress(diff, make_ctx(text={"diff_context_lines": context}))
    assert out == again
    if out is None:
        return
    assert retrieve(out.ccr_keys[0], store=ctx.store) == diff
    assert apply_patch(old, out.text) == new


@settings(max_examples=30, deadline=None)
@given(data=st.data())
def test_property_slices_of_the_real_diff(data):
    lines = FLASK.split("\n")
    start = data.draw(st.integers(0, len(lines) - 1))
    stop = data.draw(st.integers(start + 1, len(lines)))
    query = data.draw(st.sampled_from([None, "sessions.py", "app.py and helpers.py", "tests"]))
    text = "\n".join(lines[start:stop])
    ctx = make_ctx(query=query, text={"diff_focus_min_files": 2})
    out = DiffCompressor().compress(text, ctx)
    if out is None:
        return
    assert out == DiffCompressor().compress(text, make_ctx(query=query, text={"diff_focus_min_files": 2}))
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert len(parse_markers(out.text)) == 1
    for line in text.split("\n"):
        if line.startswith("diff --git"):
            assert line in out.text


def test_huge_diff_round_trips():
    text = FLASK * 40  # ~1.3 MB, 680 file sections
    ctx = make_ctx(query="sessions.py")
    out = DiffCompressor().compress(text, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    assert len(out.text) < len(text) // 3


def test_through_compress_in_an_agent_conversation():
    from headroom_core import compress

    messages = openai_conversation(
        FLASK, system=None, question="What changed in sessions.py?", tool="bash", args={"cmd": "git diff"}
    )
    store = MemoryCCRStore()
    result = compress(messages, "gpt-4o", config=HeadroomConfig(ccr_store=store))
    compressed = result.messages[-1]["content"]
    assert result.tokens_after < 0.5 * result.tokens_before
    for line in changed_lines(file_sections(FLASK)["src/flask/sessions.py"]):
        assert line in compressed
    assert retrieve(parse_markers(compressed)[0].key, store=store) == FLASK
    assert messages[-1]["content"] == FLASK  # the caller's messages are untouched


def test_git_log_patch_with_several_commits_and_no_newline_notes():
    old = [f"value_{i} = {i}" for i in range(40)]
    new = [*old[:20], "value_20 = 'changed'", *old[21:-1], "value_39 = 'last'"]
    one = unified(old, new, "config/settings.py").rstrip("\n") + "\n\\ No newline at end of file\n"
    two = unified([f"row {i}" for i in range(30)], [f"row {i}" for i in range(30) if i != 7], "data/rows.txt")
    text = (
        "commit 1111111111111111111111111111111111111111\nAuthor: A <a@example.com>\nDate:   Mon Jan 1 2024\n\n"
        "    Change the settings\n\n" + one + "\ncommit 2222222222222222222222222222222222222222\n"
        "Author: B <b@example.com>\nDate:   Tue Jan 2 2024\n\n    Drop row 7\n\n" + two
    )
    ctx = make_ctx()
    out = DiffCompressor().compress(text, ctx)
    assert out is not None
    assert retrieve(out.ccr_keys[0], store=ctx.store) == text
    for line in (
        "commit 1111111111111111111111111111111111111111",
        "    Change the settings",
        "    Drop row 7",
    ):
        assert line in out.text.split("\n")
    assert "+value_39 = 'last'\n\\ No newline at end of file" in out.text
    assert "-row 7" in out.text and "row 20" not in out.text
    assert apply_patch(old, out.text.split("commit 2222")[0]) == new


@settings(max_examples=20, deadline=None)
@given(
    context=st.integers(0, 8),
    focus=st.integers(0, 30),
    query=st.sampled_from([None, "", "sessions.py", "helpers and ctx", "tests/test_basic.py app.py"]),
)
def test_property_any_settings_keep_every_file_header(context, focus, query):
    ctx = make_ctx(query=query, text={"diff_context_lines": context, "diff_focus_min_files": focus})
    out = DiffCompressor().compress(FLASK, ctx)
    if out is None:
        return
    assert list(file_sections(out.text)) == list(file_sections(FLASK))
    assert retrieve(out.ccr_keys[0], store=ctx.store) == FLASK


def test_deleted_file_is_summarized_unless_named():
    gone = [f"legacy line {i}" for i in range(50)]
    body = "\n".join(difflib.unified_diff(gone, [], "a/old/legacy.py", "/dev/null", lineterm=""))
    deleted = f"diff --git a/old/legacy.py b/old/legacy.py\ndeleted file mode 100644\nindex 1234567..0000000\n{body}\n"
    lines = [f"keep line number {i} with some longer text" for i in range(20)]
    kept = unified(lines, [*lines[:3], "changed", *lines[4:]], "src/keep.py", n=8)
    text = deleted + kept
    out = DiffCompressor().compress(text, make_ctx())
    assert out is not None
    assert "(deleted-file diff of old/legacy.py: +0 -50 lines not shown)" in out.text
    assert "legacy line 7" not in out.text
    named = DiffCompressor().compress(text, make_ctx(query="why was old/legacy.py deleted?"))
    assert named is not None and "-legacy line 7" in named.text
