"""`GET /dashboard`: one small HTML page with server-rendered SVG charts.

No script, no stylesheet or font from elsewhere, no external request of any kind: the page is
complete as served, so it works offline and behind strict networks.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from html import escape
from typing import Any

from headroom_proxy._svg import bar_chart, progress_bars

_CSS = """
body{margin:0;background:#f6f7f9;color:#222;font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif}
header{background:#17352f;color:#fff;padding:14px 24px}
header h1{margin:0;font-size:18px;font-weight:600}
header p{margin:2px 0 0;opacity:.8;font-size:12px}
main{max-width:1360px;margin:0 auto;padding:16px 24px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin-bottom:16px}
.card{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:10px 14px;min-width:150px}
.card .v{font-size:20px;font-weight:600}.card .k{font-size:12px;color:#667}
.grid{display:flex;flex-wrap:wrap;gap:16px}
.panel{background:#fff;border:1px solid #e2e5ea;border-radius:8px;padding:10px}
table{border-collapse:collapse;font-size:12px;background:#fff}
td,th{padding:4px 10px;border-bottom:1px solid #eef0f3;text-align:right}
th:first-child,td:first-child{text-align:left}
footer{color:#778;font-size:11px;padding:16px 24px}
"""


def _money(value: float) -> str:
    return f"${value:,.4f}" if value < 1 else f"${value:,.2f}"


def _card(key: str, value: str, card_id: str) -> str:
    return f'<div class="card" id="{card_id}"><div class="v">{escape(value)}</div><div class="k">{escape(key)}</div></div>'


def _hourly(timeline: Mapping[str, Any], since: Any, until: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """Every hour of the window (at most the last 48), empty ones included, so time reads evenly."""
    if not isinstance(since, (int, float)) or not isinstance(until, (int, float)):
        return list(timeline.items())[-48:]
    start = max(float(since), float(until) - 47 * 3600)
    hours = []
    t = start - start % 3600
    while t <= until:
        hours.append(time.strftime("%Y-%m-%d %H:00", time.gmtime(t)))
        t += 3600
    return [(h, timeline.get(h, {})) for h in hours]


def render_dashboard(stats: Mapping[str, Any]) -> str:
    """The page for a `/stats` document."""
    total = stats.get("total") or {}
    timeline: Mapping[str, Any] = stats.get("by_hour") or {}
    models: Mapping[str, Any] = stats.get("by_model") or {}
    budgets = stats.get("budgets") or []

    hours = _hourly(timeline, stats.get("since"), stats.get("generated_at"))
    saved_chart = bar_chart(
        [(h[11:16], float(row.get("tokens_saved", 0))) for h, row in hours],
        title="Tokens saved per hour (UTC)",
        chart_id="chart-savings-over-time",
        width=620,
    )
    usd_chart = bar_chart(
        [(h[11:16], float(row.get("saved_usd", 0.0))) for h, row in hours],
        title="Money saved per hour (USD)",
        chart_id="chart-usd-over-time",
        width=620,
    )
    model_rows = sorted(models.items(), key=lambda kv: -kv[1].get("tokens_before", 0))[:12]
    model_chart = bar_chart(
        [(name, float(row.get("tokens_after", 0))) for name, row in model_rows],
        secondary=[float(row.get("tokens_before", 0)) for _, row in model_rows],
        legend=("after Headroom", "before"),
        title="Request tokens per model",
        chart_id="chart-per-model",
        width=620,
    )
    budget_rows = []
    for b in budgets:
        who = f" ({b['key_id']})" if b.get("key_id") else ""
        label = f"{b['name']}{who} {b['unit']}/{b['period']}"
        budget_rows.append(
            (
                label,
                float(b.get("spent", 0.0)) + float(b.get("reserved", 0.0)),
                b.get("limit"),
                b.get("soft_limit"),
            )
        )
    budget_chart = progress_bars(
        budget_rows, title="Budgets (current window)", chart_id="chart-budgets", width=620
    )

    table = "".join(
        f"<tr><td>{escape(name)}</td><td>{row.get('requests', 0):,}</td><td>{row.get('tokens_before', 0):,}</td>"
        f"<td>{row.get('tokens_after', 0):,}</td><td>{row.get('savings_ratio', 0) * 100:.1f}%</td>"
        f"<td>{_money(float(row.get('cost_usd', 0.0)))}</td><td>{_money(float(row.get('saved_usd', 0.0)))}</td>"
        f"<td>{row.get('unpriced_requests', 0):,}</td></tr>"
        for name, row in model_rows
    )
    since = stats.get("since")
    window = escape(str(stats.get("window", "")))
    prices = stats.get("prices") or {}
    generated = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(stats.get("generated_at") or time.time()))
    cards = "".join(
        [
            _card("requests", f"{total.get('requests', 0):,}", "card-requests"),
            _card("tokens saved", f"{total.get('tokens_saved', 0):,}", "card-tokens-saved"),
            _card("saved (input price)", _money(float(total.get("saved_usd", 0.0))), "card-saved-usd"),
            _card("spent", _money(float(total.get("cost_usd", 0.0))), "card-cost"),
            _card("savings ratio", f"{float(total.get('savings_ratio', 0.0)) * 100:.1f}%", "card-ratio"),
            _card("errors", f"{total.get('errors', 0):,}", "card-errors"),
        ]
    )
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        '<link rel="icon" href="data:,">'
        "<title>Headroom dashboard</title>"
        f"<style>{_CSS}</style></head><body>"
        "<header><h1>Headroom</h1>"
        f"<p>Last {window}{' since ' + time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(since)) if since else ''}"
        f" &middot; generated {generated} &middot; reload to refresh</p></header>"
        f'<main><div class="cards">{cards}</div>'
        f'<div class="grid"><div class="panel">{saved_chart}</div><div class="panel">{usd_chart}</div>'
        f'<div class="panel">{model_chart}</div><div class="panel">{budget_chart}</div></div>'
        '<h3>Per model</h3><table id="models-table"><tr><th>model</th><th>requests</th><th>tokens before</th>'
        "<th>tokens after</th><th>saved</th><th>cost</th><th>saved USD</th><th>unpriced</th></tr>"
        f"{table}</table></main>"
        f"<footer>Prices taken {escape(str(prices.get('taken', '?')))}. Source: "
        f"{escape(str(prices.get('source', '?')).rstrip('.'))}. "
        "Saved USD prices the removed tokens at each model's input price; unpriced models count in tokens only. "
        "JSON: <a href=stats>/stats</a> &middot; Prometheus: <a href=metrics>/metrics</a></footer>"
        "</body></html>"
    )
