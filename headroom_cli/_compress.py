"""`headroom compress`: a text or a conversation in, the compressed version out."""

from __future__ import annotations

import json
import sys
from typing import Any, Optional

import typer

# ruff: noqa: UP045  (typer reads the annotations at run time)


def _read(source: str) -> str:
    if source == "-":
        if sys.stdin.isatty():
            typer.echo("headroom: nothing to compress: give a FILE or pipe text in (see --help)", err=True)
            raise typer.Exit(2)
        data = sys.stdin.buffer.read()
    else:
        try:
            with open(source, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            typer.echo(f"headroom: cannot read {source}: {exc.strerror or exc}", err=True)
            raise typer.Exit(1) from None
    return data.decode("utf-8", "replace")


def _conversation(text: str) -> tuple[Any, list | None]:
    """(the parsed document, its message list) when the input is a conversation or a request
    body with `messages`; (None, None) for anything else (it is then compressed as text)."""
    stripped = text.lstrip()
    if not stripped.startswith(("[", "{")):
        return None, None
    try:
        doc = json.loads(text)
    except ValueError:
        return None, None
    messages = doc.get("messages") if isinstance(doc, dict) else doc
    if (
        isinstance(messages, list)
        and messages
        and all(isinstance(m, dict) and isinstance(m.get("role"), str) for m in messages)
    ):
        return doc, messages
    return None, None


def compress_command(
    source: str = typer.Argument("-", metavar="[FILE|-]", help="File to compress; '-' or nothing: stdin."),
    model: Optional[str] = typer.Option(
        None,
        "--model",
        "-m",
        help="Model whose tokenizer counts tokens (default: the body's model, else gpt-4o).",
    ),
    query: Optional[str] = typer.Option(
        None, "--query", "-q", help="What matters: steers what is kept (default: the latest user message)."
    ),
    as_json: bool = typer.Option(
        False, "--json", help="Print a JSON object with the result and its numbers instead of the text."
    ),
    quiet: bool = typer.Option(False, "--quiet", help="No before/after table on stderr."),
) -> None:
    text = _read(source)
    doc, messages = _conversation(text)
    from headroom_core import DEFAULT_MODEL, compress, compress_text

    if model is None:
        body_model = doc.get("model") if isinstance(doc, dict) else None
        model = body_model if isinstance(body_model, str) and body_model else DEFAULT_MODEL

    if messages is not None:
        result = compress(messages, model, query=query)
        before, after, keys = result.tokens_before, result.tokens_after, list(result.ccr_keys)
        what = f"{len(messages)} messages ({result.format})"
        if isinstance(doc, dict):
            output_doc: Any = {**doc, "messages": result.messages}
        else:
            output_doc = result.messages
        output = json.dumps(output_doc, ensure_ascii=False, indent=2)
        report: dict[str, Any] = {"messages": result.messages}
    else:
        tr = compress_text(text, model=model, query=query)
        before, after, keys = tr.tokens_before, tr.tokens_after, list(tr.ccr_keys)
        what = f"text ({tr.route})"
        output = tr.text
        report = {"text": tr.text, "route": tr.route, "compressor": tr.compressor, "summary": tr.summary}
    if as_json:
        report.update(tokens_before=before, tokens_after=after, ccr_keys=keys, model=model)
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        sys.stdout.write(output if output.endswith("\n") else output + "\n")
    sys.stdout.flush()
    if not quiet:
        _table(what, before, after, keys)


def _table(what: str, before: int, after: int, keys: list[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    saved = before - after
    table = Table(show_header=True, header_style="bold", box=None, pad_edge=False)
    for col in ("input", "tokens before", "after", "saved", "CCR keys"):
        table.add_column(col, justify="left" if col == "input" else "right")
    share = f"{saved / before:.0%}" if before else "0%"
    table.add_row(what, f"{before:,}", f"{after:,}", f"{saved:,} ({share})", str(len(keys)))
    console = Console(stderr=True, highlight=False)
    console.print(table)
    if keys:
        shown = ", ".join(keys[:3]) + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")
        console.print(f"[dim]originals: headroom_core.retrieve(key) for {shown}[/dim]", soft_wrap=True)
