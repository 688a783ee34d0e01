"""Unified diffs (`git diff`, `git show`, `git log -p`, `diff -u`): changes kept, the rest counted.

What stays: text outside file sections (commit headers, messages), every file header
line except `index ...`, every hunk header and every changed line. What goes:

- unchanged context beyond `TextConfig.diff_context_lines` on each side of a change.
  Hunks are split where context was cut and given correct `@@ -a,b +c,d @@` headers, so
  the result is still a valid patch (apply with `git apply -C<n>`);
- the body of lockfiles, generated files (minified bundles, protobuf output, source
  maps), binary patches and deleted files (unless the query names them): one line each
  with the counts;
- when the query names some files and the diff touches at least
  `TextConfig.diff_focus_min_files` files, the hunks of the files it does not name: their
  headers stay, with one line of counts. Named files keep every changed line.

The whole original is stashed once and one marker lists what was left out. Without CCR
(`ctx.can_drop` false) the diff is left alone.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass, field
from typing import ClassVar

from headroom_core._text import looks_binary, plural
from headroom_core.compressors._base import CompressContext, Compressed

_HUNK = re.compile(r"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@(.*)\Z", re.DOTALL)
_FILE_START = ("diff --git ", "diff --cc ", "diff --combined ", "diff -")
_LOCKFILES = frozenset(
    {
        "package-lock.json",
        "npm-shrinkwrap.json",
        "yarn.lock",
        "pnpm-lock.yaml",
        "bun.lockb",
        "poetry.lock",
        "pipfile.lock",
        "pdm.lock",
        "uv.lock",
        "cargo.lock",
        "gemfile.lock",
        "composer.lock",
        "go.sum",
        "flake.lock",
        "mix.lock",
        "podfile.lock",
        "packages.lock.json",
        "gradle.lockfile",
        "pubspec.lock",
        "package.resolved",
    }
)
_GENERATED_SUFFIXES = (
    ".min.js",
    ".min.css",
    ".min.mjs",
    ".js.map",
    ".css.map",
    ".pb.go",
    "_pb2.py",
    "_pb2_grpc.py",
    ".pb.h",
    ".pb.cc",
    ".generated.ts",
    ".generated.js",
    ".g.dart",
)
_MAX_LINE_CHARS = 1_000_000
_MIN_DELETED_LINES = 5


@dataclass
class _Hunk:
    header: str
    old_start: int
    new_start: int
    section: str
    body: list[str]
    complete: bool


@dataclass
class _FileDiff:
    header: list[str] = field(default_factory=list)
    hunks: list[_Hunk] = field(default_factory=list)
    path: str = ""

    @property
    def added(self) -> int:
        return sum(1 for h in self.hunks for line in h.body if line.startswith("+"))

    @property
    def removed(self) -> int:
        return sum(1 for h in self.hunks for line in h.body if line.startswith("-"))

    @property
    def deleted(self) -> bool:
        return any(line.startswith(("deleted file mode", "+++ /dev/null")) for line in self.header)

    def special_kind(self) -> str | None:
        """'lockfile', 'generated' or 'binary' when the body is not worth reading."""
        if any(
            line.startswith("GIT binary patch")
            or (line.startswith("Binary files ") and line.endswith(" differ"))
            for line in self.header
        ):
            return "binary"
        name = posixpath.basename(self.path).lower()
        if name in _LOCKFILES:
            return "lockfile"
        if name.endswith(_GENERATED_SUFFIXES):
            return "generated"
        return None


def _strip_side(path: str) -> str:
    path = path.split("\t", 1)[0].strip()
    if path.startswith('"') and path.endswith('"') and len(path) > 1:
        path = path[1:-1]
    if path.startswith(("a/", "b/", "i/", "w/", "c/", "o/")):
        path = path[2:]
    return path


def _file_path(header: list[str]) -> str:
    old = new = ""
    for line in header:
        if line.startswith("+++ "):
            new = _strip_side(line[4:])
        elif line.startswith("--- "):
            old = _strip_side(line[4:])
        elif line.startswith("rename to "):
            new = new or line[len("rename to ") :]
    if new and new != "/dev/null":
        return new
    if old and old != "/dev/null":
        return old
    first = header[0] if header else ""
    if first.startswith("diff --git "):
        parts = first[len("diff --git ") :].split(" b/")
        return parts[-1] if len(parts) > 1 else _strip_side(parts[0])
    return first.rsplit(" ", 1)[-1]


def _is_file_start(lines: list[str], i: int) -> bool:
    line = lines[i]
    if line.startswith(_FILE_START):
        return True
    return line.startswith("--- ") and i + 1 < len(lines) and lines[i + 1].startswith("+++ ")


def _parse_hunk(lines: list[str], i: int) -> tuple[_Hunk, int]:
    """The hunk whose header is `lines[i]`, and the index after it (by the header's counts)."""
    m = _HUNK.match(lines[i])
    assert m is not None
    old_left = int(m[2]) if m[2] is not None else 1
    new_left = int(m[4]) if m[4] is not None else 1
    body: list[str] = []
    j = i + 1
    while j < len(lines) and (old_left > 0 or new_left > 0):
        line = lines[j]
        tag = line[:1]
        if tag == " " or (line == "" and old_left > 0 and new_left > 0):
            old_left, new_left = old_left - 1, new_left - 1
        elif tag == "-" and old_left > 0:
            old_left -= 1
        elif tag == "+" and new_left > 0:
            new_left -= 1
        elif tag == "\\":
            pass
        else:
            break
        body.append(line)
        j += 1
    while j < len(lines) and lines[j].startswith("\\"):  # "\ No newline at end of file"
        body.append(lines[j])
        j += 1
    complete = old_left <= 0 and new_left <= 0
    hunk = _Hunk(lines[i], int(m[1]), int(m[3]), m[5], body, complete)
    return hunk, j


def parse_diff(text: str) -> list[str | _FileDiff]:
    """Verbatim lines (str) and file sections, in order."""
    lines = text.split("\n")
    parts: list[str | _FileDiff] = []
    current: _FileDiff | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if _is_file_start(lines, i) and not (
            current is not None
            and not current.hunks
            and line.startswith("--- ")
            and current.header[0].startswith(_FILE_START)
        ):
            current = _FileDiff(header=[line])
            parts.append(current)
            i += 1
            continue
        if current is not None and line.startswith("@@ ") and _HUNK.match(line):
            hunk, i = _parse_hunk(lines, i)
            current.hunks.append(hunk)
            continue
        if current is not None and not current.hunks:
            current.header.append(line)
        else:
            current = None
            parts.append(line)
        i += 1
    for part in parts:
        if isinstance(part, _FileDiff):
            part.path = _file_path(part.header)
    return parts


def _count(start: int, count: int) -> str:
    return str(start) if count == 1 else f"{start},{count}"


def trim_hunk(hunk: _Hunk, context: int) -> tuple[list[str], int]:
    """The hunk's lines with context beyond `context` lines of a change cut: (lines, cut)."""
    body = hunk.body
    if not hunk.complete:
        return [hunk.header, *body], 0
    changed = [k for k, line in enumerate(body) if line[:1] in "+-"]
    if not changed:
        return [hunk.header, *body], 0
    keep = [False] * len(body)
    for k in changed:
        for n in range(max(0, k - context), min(len(body), k + context + 1)):
            keep[n] = True
    for k, line in enumerate(body):  # a "\ No newline" note goes with the line before it
        if line.startswith("\\") and k > 0:
            keep[k] = keep[k - 1]
    cut = sum(1 for k, line in enumerate(body) if not keep[k] and not line.startswith("\\"))
    if cut == 0:
        return [hunk.header, *body], 0
    out: list[str] = []
    old_no, new_no = hunk.old_start, hunk.new_start
    k, first = 0, True
    while k < len(body):
        if not keep[k]:
            tag = body[k][:1]
            if tag != "\\":
                old_no, new_no = old_no + (tag != "+"), new_no + (tag != "-")
            k += 1
            continue
        run_start, old_first, new_first = k, old_no, new_no
        while k < len(body) and keep[k]:
            tag = body[k][:1]
            if tag != "\\":
                old_no, new_no = old_no + (tag != "+"), new_no + (tag != "-")
            k += 1
        old_count, new_count = old_no - old_first, new_no - new_first
        old_shown = old_first if old_count else old_first - 1
        new_shown = new_first if new_count else new_first - 1
        section = hunk.section if first else ""
        out.append(f"@@ -{_count(old_shown, old_count)} +{_count(new_shown, new_count)} @@{section}")
        out.extend(body[run_start:k])
        first = False
    return out, cut


def _named_in(query: str, path: str) -> bool:
    q, p = query.lower(), path.lower()
    name = posixpath.basename(p)
    if not name:
        return False
    if p in q or (len(name) >= 3 and name in q):
        return True
    stem = name.split(".", 1)[0]
    return len(stem) >= 4 and re.search(rf"(?<![\w./-]){re.escape(stem)}(?![\w/-])", q) is not None


class DiffCompressor:
    name: ClassVar[str] = "diff"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        if not isinstance(text, str) or not ctx.can_drop or looks_binary(text):
            return None
        if not ctx.config.text.enabled:
            return None
        if "@@ " not in text and "Binary files " not in text and "GIT binary patch" not in text:
            return None
        if len(text) > _MAX_LINE_CHARS and max(len(line) for line in text.split("\n")) > _MAX_LINE_CHARS:
            return None
        parts = parse_diff(text)
        files = [p for p in parts if isinstance(p, _FileDiff)]
        if not files or not any(f.hunks or f.special_kind() for f in files):
            return None
        cfg = ctx.config.text
        context = max(0, cfg.diff_context_lines)
        named = {id(f) for f in files if ctx.query and _named_in(ctx.query, f.path)}
        focus = bool(named) and len(files) >= max(1, cfg.diff_focus_min_files)

        out: list[str] = []
        context_cut = 0
        special: dict[str, list[int]] = {}  # kind -> [files, lines]
        unfocused = [0, 0, 0]  # files, added, removed
        for part in parts:
            if isinstance(part, str):
                out.append(part)
                continue
            kind = part.special_kind()
            if kind is None and id(part) not in named and part.deleted and part.removed > _MIN_DELETED_LINES:
                kind = "deleted-file"  # the old content is rarely needed; the query can ask for it
            if kind is not None:
                body_lines = sum(1 + len(h.body) for h in part.hunks) + max(0, len(part.header) - 1)
                if body_lines <= 2:
                    out.extend(part.header)
                    for hunk in part.hunks:
                        out.extend([hunk.header, *hunk.body])
                    continue
                out.append(part.header[0])
                counts = f"+{part.added:,} -{part.removed:,} lines" if part.hunks else f"{body_lines:,} lines"
                out.append(f"({kind} diff of {part.path}: {counts} not shown)")
                tally = special.setdefault(kind, [0, 0])
                tally[0] += 1
                tally[1] += body_lines
                continue
            if focus and id(part) not in named and part.hunks:
                # `diff --git` already names the file: its ---/+++ and index lines can go.
                redundant = (
                    ("index ", "--- ", "+++ ") if part.header[0].startswith("diff --git ") else ("index ",)
                )
                header = [part.header[0], *(x for x in part.header[1:] if not x.startswith(redundant))]
                out.extend(header)
                out.append(
                    f"({plural(len(part.hunks), 'hunk')}, +{part.added:,} -{part.removed:,} lines not shown)"
                )
                unfocused[0] += 1
                unfocused[1] += part.added
                unfocused[2] += part.removed
                continue
            out.extend(part.header)  # shown files keep their `index` line: it is cheap
            for hunk in part.hunks:
                lines, cut = trim_hunk(hunk, context)
                out.extend(lines)
                context_cut += cut
        if not context_cut and not special and not unfocused[0]:
            return None
        pieces = []
        if context_cut:
            pieces.append(f"{context_cut:,} unchanged context lines")
        for kind in sorted(special):
            n_files, n_lines = special[kind]
            pieces.append(f"{plural(n_files, kind + ' diff')} ({n_lines:,} lines)")
        if unfocused[0]:
            pieces.append(
                f"the hunks of {plural(unfocused[0], 'file')} the query does not name "
                f"(+{unfocused[1]:,} -{unfocused[2]:,} lines)"
            )
        key = ctx.stash(text, "diff", unit="line")
        trailing_newline = bool(out) and out[-1] == ""
        while out and out[-1] == "":
            out.pop()
        out.append(ctx.marker("; ".join(pieces) + " not shown", key))
        result = "\n".join(out) + ("\n" if trailing_newline else "")
        if len(result) >= len(text):
            return None
        summary = f"{len(files)} files: " + "; ".join(pieces) + " cut"
        return Compressed(result, (key,), summary)
