"""Render helpers shared by the TUI widgets and the headless printers: durations, times, ages
and the price line (`format_*`, `price_text`), and the market frame the text and ANSI printers
draw (`build_frame`): lines of (text, role) segments.

Every figure is labelled: E = estimated by the model (relative until calibrated),
R = realized, i.e. printed by an exchange's liquidation feed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from liqtui.model.engine import MarketSnapshot
from liqtui.output.ladder import (
    LONG_MARK,
    SHORT_MARK,
    LadderRow,
    LadderView,
    RowLayout,
    Segment,
    compact_usd,
    crop_segments,
    format_price,
    ladder_header,
    row_segments,
    step_decimals,
)

# Below this the map holds less than a half-life's worth of history: said in a warning color.
LOW_CONFIDENCE = 0.5
HEADER_LINES = 3
FOOTER_LINES = 1
# Feed state → role, as in the TUI status bar.
FEED_STATE_ROLES = {
    "connected": "text",
    "replaying": "text",
    "simulated": "text",
    "finished": "muted",
    "connecting": "warning",
    "reconnecting": "warning",
    "stale": "warning",
    "down": "error",
    "failed": "error",
}


def format_duration(ms: int) -> str:
    """86_400_000 → '24h', 2_592_000_000 → '30d' (days only from two days up)."""
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)):
        if ms >= size and ms % size == 0 and (unit != "d" or ms >= 2 * size):
            return f"{ms // size}{unit}"
    return f"{ms / 1000:g}s"


def format_time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def iso_time(ms: int) -> str:
    """RFC 3339 UTC with milliseconds: 2026-01-01T00:00:00.000Z."""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


PRICE_SOURCE_NAMES = {
    "mark": "mark",
    "kline": "kline close",
    "trades": "last trade",
    "liquidation": "liquidation print",
}


def price_origin(snap: MarketSnapshot) -> str:
    """Where the price comes from: "mark binance/okx" (their median), "liquidation print okx"."""
    name = PRICE_SOURCE_NAMES.get(snap.price_source or "", snap.price_source or "?")
    return f"{name} {'/'.join(snap.price_exchanges)}".rstrip()


def format_age(ms: int) -> str:
    """4_000 → '4s', 600_000 → '10m00s', 7_500_000 → '2h05m', 200_000_000 → '2d07h'."""
    s = max(ms, 0) // 1000
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    if s < 86_400:
        return f"{s // 3600}h{s % 3600 // 60:02d}m"
    return f"{s // 86_400}d{s % 86_400 // 3600:02d}h"


def price_decimals(price: float) -> int:
    """Decimals that show a price with six significant digits (0 to 8)."""
    return max(0, min(8, 5 - math.floor(math.log10(price))))


def price_text(snap: MarketSnapshot) -> str:
    """The price with its source and age; a stale one says STALE first."""
    if snap.price is None:
        return "price —"
    decimals = price_decimals(snap.price)
    age = format_age(snap.price_age_ms or 0)
    if snap.price_stale:
        return f"{format_price(snap.price, decimals)} STALE {age} ({price_origin(snap)})"
    return f"{format_price(snap.price, decimals)} ({price_origin(snap)} {age})"


# -- the frame: lines of (text, role) segments ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Frame:
    lines: list[list[Segment]]
    price_line: int | None = None  # index of the line holding the current price


def hours_text(ms: int, *, compact: bool = False) -> str:
    """A span of history in hours: "0 h" (under 3 minutes), "2.5 h", "36 h"; compact: "0h",
    "0.5h", "3h", "36h" (tenths only under an hour)."""
    hours = max(ms, 0) / 3_600_000
    if compact:
        if hours < 0.05:
            return "0h"
        return f"{hours:.1f}h" if hours < 0.95 else f"{hours:.0f}h"
    if hours < 0.05:
        return "0 h"
    return f"{hours:.1f} h" if hours < 10 else f"{hours:.0f} h"


def history_text(snap: MarketSnapshot, *, short: bool = False) -> str:
    """How much history the map holds and the confidence that gives it, in one phrase:
    "map history 0 h · confidence 0%", "map history 2.0–24 h · confidence 45%" (the least
    and the most of the exchanges with open interest); short: "hist 2–24h 45%"."""
    spans = sorted(snap.oi_history_ms.values())
    low, high = (spans[0], spans[-1]) if spans else (0, 0)
    a, b = hours_text(low, compact=short), hours_text(high, compact=short)
    span = a if a == b else f"{a.removesuffix('h').rstrip()}–{b}"
    confidence = f"{snap.confidence:.0%}"
    if short:
        return f"hist {span} {confidence}"
    return f"map history {span} · confidence {confidence}"


def segments_text(segs: Sequence[Segment]) -> str:
    return "".join(t for t, _ in segs)


def _length(segs: Sequence[Segment]) -> int:
    return sum(len(t) for t, _ in segs)


def _summary_segments(snap: MarketSnapshot, width: int = 1_000) -> list[list[Segment]]:
    scope = snap.exchange_filter or "all exchanges"
    price_role = "muted" if snap.price is None else "stale" if snap.price_stale else "price"
    first: list[Segment] = [
        (snap.symbol, "symbol"),
        ("  ", "empty"),
        (price_text(snap), price_role),
    ]
    # What follows the price goes whole or not at all, so the line keeps to `width`.
    tail = (
        f"as of {format_time(snap.as_of_ms)}",
        f"window {format_duration(snap.window_ms)}",
        scope,
    )
    for text in tail:
        if _length(first) + 2 + len(text) > width:
            continue
        first.append((f"  {text}", "muted"))
    second: list[Segment] = [
        ("R ", "realized"),
        (f"{LONG_MARK}{compact_usd(snap.realized_long_usd)}", "long"),
        (" ", "empty"),
        (f"{SHORT_MARK}{compact_usd(snap.realized_short_usd)}", "short"),
        (f" {snap.realized_count} prints | ", "muted"),
    ]
    if snap.has_estimate:
        est_long = float(snap.estimated_long.sum())
        est_short = float(snap.estimated_short.sum())
        second += [
            ("E ", "text"),
            (f"{LONG_MARK}{compact_usd(est_long)}", "long"),
            (" ", "empty"),
            (f"{SHORT_MARK}{compact_usd(est_short)}", "short"),
            (" (relative)", "muted"),
        ]
    else:
        second.append(("E none yet (needs open interest)", "muted"))
    tiers = "" if snap.tier_filter == "all" else f" {snap.tier_filter}"
    second.append((f" | model {snap.preset}{tiers}", "muted"))
    # How much history the map holds: whole, shortened, or not at all, to keep to `width`.
    history_role = "warning" if snap.confidence < LOW_CONFIDENCE else "muted"
    for text in (history_text(snap), history_text(snap, short=True)):
        if _length(second) + 3 + len(text) <= width:
            second.append((f" | {text}", history_role))
            break
    return [first, second]


def _feed_segments(snap: MarketSnapshot) -> list[Segment]:
    segs: list[Segment] = [("feeds: ", "muted")]
    if not snap.feeds:
        return [*segs, ("none", "muted")]
    for i, f in enumerate(snap.feeds):
        if i:
            segs.append(("; ", "muted"))
        segs.append((f"{f.name} {f.state}", FEED_STATE_ROLES.get(f.state, "text")))
        segs.append((f" {f.messages} msgs", "muted"))
        if f.skipped:
            segs.append((f" {f.skipped} skipped", "warning"))
        if f.liquidations_complete is False:
            segs.append((" (throttled)", "muted"))
    return segs


def visible_rows(snap: MarketSnapshot, n_rows: int, view: LadderView | None) -> list[LadderRow]:
    """The ladder rows a frame, the JSON and the CSV show (none without a map or a price)."""
    return (view or LadderView()).rows(snap, n_rows) if snap.grid and snap.price else []


def build_frame(
    snap: MarketSnapshot,
    *,
    width: int = 100,
    height: int = 40,
    view: LadderView | None = None,
    realized_mark_usd: float = 100_000.0,
) -> Frame:
    """The lines of one market frame: two summary lines, the legend, the ladder rows (as many
    as fit in `height`), the feed line."""
    width = max(width, 20)
    lines = [crop_segments(segs, width) for segs in _summary_segments(snap, width)]
    n_rows = max(height - HEADER_LINES - FOOTER_LINES, 1)
    rows = visible_rows(snap, n_rows, view)
    if not rows:
        lines.append([("no data for this market in the window", "message")])
        lines.append(crop_segments(_feed_segments(snap), width))
        return Frame(lines)
    step = rows[0].price_high - rows[0].price_low
    layout = RowLayout.for_width(width, rows, step_decimals(step))
    lines.append(ladder_header(layout, step, width))
    price_line = None
    for row in rows:
        if row.is_price_row:
            price_line = len(lines)
        lines.append(row_segments(row, layout, realized_mark_usd=realized_mark_usd))
    lines.append(crop_segments(_feed_segments(snap), width))
    return Frame(lines, price_line)
