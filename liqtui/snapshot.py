"""Headless snapshots: one market frame as plain text (the TUI ladder with a glyph ramp) or JSON.

Every figure is labelled: E = estimated by the model (relative until calibrated),
R = realized, i.e. printed by an exchange's liquidation feed.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from liqtui import __version__
from liqtui.ladder import (
    GLYPHS,
    LONG_MARK,
    SHORT_MARK,
    LadderRow,
    LadderView,
    RowLayout,
    compact_usd,
    format_price,
    row_segments,
    step_decimals,
)
from liqtui.model.engine import MarketSnapshot

HEADER_LINES = 3
FOOTER_LINES = 1


def format_duration(ms: int) -> str:
    """86_400_000 → '24h', 2_592_000_000 → '30d' (days only from two days up)."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0 and (unit != "d" or ms >= 2 * size):
            return f"{ms // size}{unit}"
    return f"{ms / 1000:g}s"


def format_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def price_text(snap: MarketSnapshot) -> str:
    if snap.price is None:
        return "price —"
    decimals = max(0, min(8, 5 - math.floor(math.log10(snap.price))))
    return f"{format_price(snap.price, decimals)} ({snap.price_source})"


def summary_lines(snap: MarketSnapshot) -> list[str]:
    """The header shared by the text snapshot and the TUI status area."""
    est_long = float(snap.estimated_long.sum()) if snap.estimated_long.size else 0.0
    est_short = float(snap.estimated_short.sum()) if snap.estimated_short.size else 0.0
    scope = snap.exchange_filter or "all exchanges"
    first = (
        f"{snap.symbol}  {price_text(snap)}  as of {format_time(snap.as_of_ms)}  "
        f"window {format_duration(snap.window_ms)}  {scope}"
    )
    estimate = (
        f"E {LONG_MARK}{compact_usd(est_long)} {SHORT_MARK}{compact_usd(est_short)} (relative)"
        if snap.has_estimate
        else "E none yet (needs open interest)"
    )
    tiers = "" if snap.tier_filter == "all" else f" {snap.tier_filter}"
    second = (
        f"R {LONG_MARK}{compact_usd(snap.realized_long_usd)} "
        f"{SHORT_MARK}{compact_usd(snap.realized_short_usd)} {snap.realized_count} prints | "
        f"{estimate} | model {snap.preset}{tiers}"
    )
    return [first, second]


def feed_line(snap: MarketSnapshot) -> str:
    parts = []
    for f in snap.feeds:
        part = f"{f.name} {f.state} {f.messages} msgs"
        if f.skipped:
            part += f" {f.skipped} skipped"
        if f.liquidations_complete is False:
            part += " (throttled)"
        parts.append(part)
    return "feeds: " + ("; ".join(parts) if parts else "none")


def render_text(
    snap: MarketSnapshot,
    *,
    width: int = 100,
    height: int = 40,
    view: LadderView | None = None,
    realized_mark_usd: float = 100_000.0,
) -> str:
    """The ladder as plain text: no escape codes, trailing spaces stripped."""
    width = max(width, 20)
    lines = [line[:width] for line in summary_lines(snap)]
    n_rows = max(height - HEADER_LINES - FOOTER_LINES, 1)
    rows = (view or LadderView()).rows(snap, n_rows) if snap.grid and snap.price else []
    if not rows:
        lines.append("no data for this market in the window")
        lines.append(feed_line(snap)[:width])
        return "\n".join(lines) + "\n"
    step = rows[0].price_high - rows[0].price_low
    layout = RowLayout.for_width(width, rows, step_decimals(step))
    legend = (
        f"{'price':>{layout.label}}  E {LONG_MARK}long {SHORT_MARK}short "
        f"intensity {GLYPHS.strip()}  step {format_price(step, layout.decimals)}"
    )
    cols = ""
    if layout.est:
        cols += f" {'E usd':>{layout.est}}"
    if layout.real:
        cols += f" {'R usd':>{layout.real}}"
    legend = legend[: max(width - len(cols), 0)]
    lines.append((legend + " " * (width - len(legend) - len(cols)) + cols)[:width])
    for row in rows:
        text = "".join(t for t, _ in row_segments(row, layout, realized_mark_usd=realized_mark_usd))
        lines.append(text)
    lines.append(feed_line(snap)[:width])
    return "\n".join(line.rstrip() for line in lines) + "\n"


def _level_json(row: LadderRow) -> dict[str, float]:
    return {
        "price_low": row.price_low,
        "price_high": row.price_high,
        "long_usd": round(row.long_usd, 2),
        "short_usd": round(row.short_usd, 2),
        "realized_long_usd": round(row.realized_long_usd, 2),
        "realized_short_usd": round(row.realized_short_usd, 2),
    }


def snapshot_dict(
    snap: MarketSnapshot, *, rows: int = 40, view: LadderView | None = None
) -> dict[str, object]:
    """The JSON document: the same rows the text ladder shows, highest price first."""
    ladder = (view or LadderView()).rows(snap, rows) if snap.grid and snap.price else []
    return {
        "liqtui_version": __version__,
        "symbol": snap.symbol,
        "as_of": snap.as_of_ms,
        "price": snap.price,
        "price_source": snap.price_source,
        "window_ms": snap.window_ms,
        "realized": {
            "label": "R",
            "long_usd": snap.realized_long_usd,
            "short_usd": snap.realized_short_usd,
            "count": snap.realized_count,
            "by_exchange": {
                ex: {"long_usd": lo, "short_usd": sh}
                for ex, (lo, sh) in sorted(snap.realized_by_exchange.items())
            },
            "duplicates_dropped": snap.duplicates,
        },
        "estimated": {
            "label": "E",
            "scale": "relative",
            "preset": snap.preset,
            "tier_filter": snap.tier_filter,
            "long_usd": float(snap.estimated_long.sum()) if snap.estimated_long.size else 0.0,
            "short_usd": float(snap.estimated_short.sum()) if snap.estimated_short.size else 0.0,
            "by_exchange": {
                ex: {"long_usd": lo, "short_usd": sh}
                for ex, (lo, sh) in sorted(snap.estimated_by_exchange.items())
            },
        },
        "levels": [_level_json(r) for r in ladder],
        "skipped_messages": snap.skipped_messages,
        "ignored_messages": snap.ignored_messages,
        "feeds": [
            {
                "name": f.name,
                "state": f.state,
                "messages": f.messages,
                "skipped": f.skipped,
                "ignored": f.ignored,
                "last_event_ms": f.last_event_ms,
                "last_error": f.last_error,
                "liquidations_complete": f.liquidations_complete,
                "note": f.note,
            }
            for f in snap.feeds
        ],
    }


def render_json(snap: MarketSnapshot, *, rows: int = 40, view: LadderView | None = None) -> str:
    return json.dumps(snapshot_dict(snap, rows=rows, view=view), allow_nan=False) + "\n"
