"""HtmlCompressor: reduce an HTML page to the text a reader would see.

Uses the standard library's tolerant `html.parser`. Scripts, styles, SVG, templates,
forms and page chrome (nav, header/footer banners, asides) are dropped; headings become
`#` lines, list items `- ` lines, table rows `cell | cell` lines, links their text,
images their alt text, `<pre>` keeps its whitespace. The original page is stashed in CCR
and one marker at the end says so.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import ClassVar

from headroom_core.compressors._base import CompressContext, Compressed

# Content of these elements is never shown to a reader of the page's text.
_SKIP = frozenset(
    {"script", "style", "noscript", "template", "svg", "math", "iframe", "object", "canvas", "head", "select"}
)
# Page chrome: navigation and boilerplate around the main content.
_CHROME = frozenset({"nav", "aside", "footer", "form", "button", "dialog"})
_BLOCK = frozenset(
    {
        "p", "div", "section", "article", "main", "header", "blockquote", "figure", "figcaption",
        "ul", "ol", "dl", "dt", "dd", "table", "thead", "tbody", "tfoot", "caption", "hr", "address",
        "details", "summary", "body", "html",
    }
)  # fmt: skip
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_HEADINGS = {"h1": 1, "h2": 2, "h3": 3, "h4": 4, "h5": 5, "h6": 6}
_SPACES = re.compile(r"[ \t\r\f\v\u00a0]+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.current: list[str] = []
        self.skip_stack: list[str] = []
        self.pre_depth = 0
        self.title: list[str] = []
        self.in_title = False
        self.row: list[str] | None = None
        self.cell: list[str] | None = None
        self.prefix = ""

    # -- block handling
    def flush(self) -> None:
        text = "".join(self.current)
        self.current = []
        if self.pre_depth:
            text = text.strip("\n")
        else:
            text = _SPACES.sub(" ", text).strip()
        if text:
            self.blocks.append(self.prefix + text)
        self.prefix = ""

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "title":
            self.in_title = True
            return
        if self.skip_stack or tag in _SKIP or tag in _CHROME:
            if tag not in _VOID:
                self.skip_stack.append(tag)
            return
        if tag in _HEADINGS:
            self.flush()
            self.prefix = "#" * _HEADINGS[tag] + " "
        elif tag == "li":
            self.flush()
            self.prefix = "- "
        elif tag == "tr":
            self.flush()
            self.row = []
        elif tag in ("td", "th"):
            self.cell = []
        elif tag == "br":
            if self.cell is not None:
                self.cell.append(" ")
            else:
                self.flush()
        elif tag == "pre":
            self.flush()
            self.pre_depth += 1
        elif tag == "img":
            alt = dict(attrs).get("alt")
            if alt:
                self.handle_data(f"[image: {alt}]")
        elif tag in _BLOCK:
            self.flush()

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self.in_title = False
            return
        if self.skip_stack:
            if tag in self.skip_stack:
                # Close up to the matching open tag (tolerates unclosed children).
                while self.skip_stack and self.skip_stack.pop() != tag:
                    pass
            return
        if tag in ("td", "th"):
            if self.cell is not None and self.row is not None:
                self.row.append(_SPACES.sub(" ", "".join(self.cell)).strip())
            self.cell = None
        elif tag == "tr":
            if self.row is not None and any(self.row):
                self.flush()
                self.blocks.append(" | ".join(self.row))
            self.row = None
        elif tag == "pre":
            self.flush()
            self.pre_depth = max(0, self.pre_depth - 1)
        elif tag in _HEADINGS or tag == "li" or tag in _BLOCK:
            self.flush()

    def handle_data(self, data: str) -> None:
        if self.in_title:
            self.title.append(data)
            return
        if self.skip_stack:
            return
        if self.cell is not None:
            self.cell.append(data)
        else:
            self.current.append(data)

    def text(self) -> str:
        self.flush()
        title = _SPACES.sub(" ", "".join(self.title)).strip()
        blocks = self.blocks
        if title and (not blocks or blocks[0].lstrip("# ") != title):
            blocks = [f"Title: {title}", *blocks]
        return "\n".join(blocks)


def html_to_text(html: str) -> str:
    """The readable text of an HTML document (deterministic; never raises on bad markup)."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except (AssertionError, ValueError):  # very old parsers raised on some malformed input
        pass
    return parser.text()


class HtmlCompressor:
    name: ClassVar[str] = "html"

    def compress(self, text: str, ctx: CompressContext) -> Compressed | None:
        if not isinstance(text, str) or not ctx.can_drop or not ctx.config.text.enabled:
            return None
        try:
            readable = html_to_text(text)
        except Exception:  # html.parser is tolerant; anything else is a pass-through
            return None
        key = ctx.stash(text, "html", unit="line")
        marker = ctx.marker(f"HTML page ({len(text):,} characters) reduced to its text", key)
        result = f"{readable}\n{marker}" if readable else marker
        if len(result) >= len(text):
            return None
        lines = readable.count("\n") + 1 if readable else 0
        return Compressed(result, (key,), f"HTML reduced to {lines:,} lines of text")
