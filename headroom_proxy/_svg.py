"""A tiny server-side SVG chart renderer for the dashboard (no JavaScript, no CDN).

Two shapes are enough: vertical bars over time or categories, and horizontal progress bars for
budgets. Output is deterministic text, so tests can compare it and the page works offline.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

_FONT = "font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif"
_BAR = "#2f7d6d"
_BAR_ALT = "#9ccfc2"
_AXIS = "#8a8f98"


def _fmt(value: float) -> str:
    if value >= 1_000_000:
        return f"{value / 1_000_000:.1f}M"
    if value >= 10_000:
        return f"{value / 1_000:.0f}k"
    if value >= 1_000:
        return f"{value / 1_000:.1f}k"
    if value and value < 1:
        return f"{value:.3g}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def bar_chart(
    points: Sequence[tuple[str, float]],
    *,
    title: str,
    unit: str = "",
    chart_id: str,
    width: int = 640,
    height: int = 220,
    secondary: Sequence[float] | None = None,
    legend: tuple[str, str] | None = None,
) -> str:
    """Vertical bars, one per (label, value); `secondary` draws a lighter bar behind each
    (e.g. tokens before, with tokens after in front)."""
    left, right, top, bottom = 56, 12, 28, 42
    plot_w, plot_h = width - left - right, height - top - bottom
    values = [max(0.0, float(v)) for _, v in points]
    back = [max(0.0, float(v)) for v in secondary] if secondary is not None else []
    peak = max([*values, *back, 0.0]) or 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" style="{_FONT}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="18" font-size="13" font-weight="600" fill="#222">{escape(title)}</text>',
        f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{_AXIS}"/>',
        f'<text x="{left - 6}" y="{top + 4}" font-size="10" text-anchor="end" fill="{_AXIS}">'
        f"{escape(_fmt(peak))}{escape(unit)}</text>",
        f'<text x="{left - 6}" y="{top + plot_h}" font-size="10" text-anchor="end" fill="{_AXIS}">0</text>',
    ]
    if not points:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{top + plot_h / 2:.1f}" font-size="12" '
            f'text-anchor="middle" fill="{_AXIS}">no requests yet</text>'
        )
    n = max(1, len(points))
    slot = plot_w / n
    bar_w = max(2.0, slot * 0.7)
    label_every = max(1, n // 12)
    for i, (label, _) in enumerate(points):
        x = left + i * slot + (slot - bar_w) / 2
        if back:
            bh = back[i] / peak * plot_h
            parts.append(
                f'<rect class="bar-secondary" x="{x:.1f}" y="{top + plot_h - bh:.1f}" width="{bar_w:.1f}" '
                f'height="{bh:.1f}" fill="{_BAR_ALT}"/>'
            )
        h = values[i] / peak * plot_h
        parts.append(
            f'<rect class="bar" data-label="{escape(label)}" data-value="{values[i]:g}" x="{x:.1f}" '
            f'y="{top + plot_h - h:.1f}" width="{bar_w:.1f}" height="{h:.1f}" fill="{_BAR}">'
            f"<title>{escape(label)}: {escape(_fmt(values[i]))}{escape(unit)}</title></rect>"
        )
        if i % label_every == 0:
            short = label if len(label) <= 16 else label[:15] + "…"
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{top + plot_h + 14}" font-size="10" text-anchor="middle" '
                f'fill="#444">{escape(short)}</text>'
            )
    if legend:
        parts.append(
            f'<rect x="{left + plot_w - 170}" y="8" width="10" height="10" fill="{_BAR}"/>'
            f'<text x="{left + plot_w - 156}" y="17" font-size="10" fill="#444">{escape(legend[0])}</text>'
            f'<rect x="{left + plot_w - 60}" y="8" width="10" height="10" fill="{_BAR_ALT}"/>'
            f'<text x="{left + plot_w - 46}" y="17" font-size="10" fill="#444">{escape(legend[1])}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def progress_bars(
    rows: Sequence[tuple[str, float, float | None, float | None]],
    *,
    title: str,
    chart_id: str,
    width: int = 640,
) -> str:
    """Horizontal bars: (label, used, hard limit, soft limit). The fill turns amber past the
    soft limit and red at the hard one."""
    row_h, top, left = 34, 30, 200
    height = top + max(1, len(rows)) * row_h + 8
    plot_w = width - left - 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{escape(chart_id)}" class="chart" role="img" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" style="{_FONT}">',
        f"<title>{escape(title)}</title>",
        f'<text x="8" y="18" font-size="13" font-weight="600" fill="#222">{escape(title)}</text>',
    ]
    if not rows:
        parts.append(f'<text x="8" y="{top + 18}" font-size="12" fill="{_AXIS}">no budgets configured</text>')
    for i, (label, used, limit, soft) in enumerate(rows):
        y = top + i * row_h
        cap = limit or soft or max(used, 1.0)
        share = min(1.0, used / cap) if cap else 0.0
        color = "#c0392b" if limit and used >= limit else ("#d68910" if soft and used >= soft else _BAR)
        parts.append(
            f'<text x="8" y="{y + 15}" font-size="11" fill="#333">{escape(label[:30])}</text>'
            f'<rect x="{left}" y="{y + 4}" width="{plot_w}" height="14" fill="#eef1f4" rx="3"/>'
            f'<rect class="bar" data-label="{escape(label)}" data-value="{used:g}" x="{left}" y="{y + 4}" '
            f'width="{plot_w * share:.1f}" height="14" fill="{color}" rx="3"/>'
        )
        if soft and cap:
            sx = left + plot_w * min(1.0, soft / cap)
            parts.append(f'<line x1="{sx:.1f}" y1="{y + 1}" x2="{sx:.1f}" y2="{y + 21}" stroke="#d68910"/>')
        parts.append(
            f'<text x="{left + plot_w + 6}" y="{y + 15}" font-size="11" fill="#333">{share * 100:.0f}%</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
