"""The liquidation tape's filters and formats, shared by the TUI's tape view and `liqtui tape`.

One print is one line: time, exchange, market, side (▼ a long liquidated: a forced sell; ▲ a
short: a forced buy), size in USD and price, marked when it is at or above the large size.
The headless text line carries the date and the exact size (logs, grep); the view shows the
time of day and a compact size in columns; JSON Lines carry every field with its unit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from liqtui.model.tape import MinuteTotal, TapePrint
from liqtui.output.ladder import LONG_MARK, SHORT_MARK, compact_usd, format_price
from liqtui.output.render import iso_time, price_decimals

Segment = tuple[str, str]  # (text, role)

# The sizes the tape's threshold key steps through (USD); the configured one joins them.
THRESHOLDS: tuple[float, ...] = (0.0, 1_000.0, 10_000.0, 50_000.0, 100_000.0, 1_000_000.0)
LARGE_MARK = "◆"
JSONL_FIELDS = ("time", "time_ms", "exchange", "symbol", "side", "price", "usd", "large")


def thresholds(configured: float) -> tuple[float, ...]:
    """The threshold key's steps: THRESHOLDS with the configured size among them."""
    return tuple(sorted({*THRESHOLDS, float(configured)}))


def next_threshold(current: float, configured: float) -> float:
    """The step after `current` (after the largest: 0, every print)."""
    steps = thresholds(configured)
    higher = [s for s in steps if s > current + 1e-9]
    return higher[0] if higher else steps[0]


def threshold_label(min_usd: float) -> str:
    return "every size" if min_usd <= 0 else f"≥ ${compact_usd(min_usd)}"


def passes(p: TapePrint, *, min_usd: float = 0.0, exchange: str | None = None) -> bool:
    """The print is at least `min_usd` and of `exchange` (None: any)."""
    return p.notional_usd >= min_usd and (exchange is None or p.exchange == exchange)


def side_mark(side: str) -> str:
    return LONG_MARK if side == "long" else SHORT_MARK


def _price(price: float) -> str:
    return format_price(price, price_decimals(price)) if price > 0 else "—"


def text_line(p: TapePrint, *, large_usd: float) -> str:
    """One print as a log line: `2026-01-01T12:34:56.789Z binance  BTC  ▼ long  1,234,567 USD
    @ 97,123.4` and ` LARGE` at or above `large_usd`."""
    big = " LARGE" if p.notional_usd >= large_usd > 0 else ""
    return (
        f"{iso_time(p.time_ms)} {p.exchange:<11} {p.symbol:<10} {side_mark(p.side)} {p.side:<5} "
        f"{p.notional_usd:>15,.0f} USD @ {_price(p.price)}{big}"
    )


def json_line(p: TapePrint, *, large_usd: float) -> str:
    """One print as a JSON object (one line, fields JSONL_FIELDS)."""
    return json.dumps(
        {
            "time": iso_time(p.time_ms),
            "time_ms": p.time_ms,
            "exchange": p.exchange,
            "symbol": p.symbol,
            "side": p.side,
            "price": p.price,
            "usd": round(p.notional_usd, 2),
            "large": bool(p.notional_usd >= large_usd > 0),
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


# -- the view's columns ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Columns:
    """The view's column widths: full exchange names when wide; the side as its mark only
    (▼/▲ and color, still never hue alone) when compact."""

    exchange: int
    symbol: int
    side_word: bool
    size: int
    price: int


WIDE = Columns(11, 9, True, 9, 13)  # 64 cells (+ ◆)
NORMAL = Columns(5, 9, True, 9, 13)  # 58 cells
COMPACT = Columns(3, 6, False, 7, 10)  # 40 cells
TIME_W = 8


def columns_for(width: int) -> Columns:
    return WIDE if width >= 72 else NORMAL if width >= 60 else COMPACT


def _side_w(cols: Columns) -> int:
    return 7 if cols.side_word else 1


def header_segments(cols: Columns) -> list[Segment]:
    return [
        (f"{'time':<{TIME_W}} ", "label"),
        (f"{'exch' if cols.exchange >= 4 else 'ex':<{cols.exchange}} ", "label"),
        (f"{'market':<{cols.symbol}} ", "label"),
        (f"{'side' if cols.side_word else '':<{_side_w(cols)}} ", "label"),
        (f"{'size':>{cols.size}} ", "label"),
        (f"{'price':>{cols.price}}", "label"),
    ]


def print_segments(p: TapePrint, *, large_usd: float, cols: Columns) -> list[Segment]:
    """A print as the view's row: side as a mark (and word, unless compact) and color (never
    hue alone); a large print bold with a mark."""
    big = p.notional_usd >= large_usd > 0
    clock = datetime.fromtimestamp(p.time_ms / 1000, tz=UTC).strftime("%H:%M:%S")
    size = "$" + compact_usd(p.notional_usd)
    side = f"{side_mark(p.side)} {p.side:<5}" if cols.side_word else side_mark(p.side)
    # Two style runs per row (as aggr: the row in its side's color; bold when large): every new
    # print shifts every row of the view, and each run costs its escape codes on the wire.
    rest = (
        f"{p.exchange[: cols.exchange]:<{cols.exchange}} {p.symbol[: cols.symbol]:<{cols.symbol}} "
        f"{side} {size:>{cols.size}} {_price(p.price):>{cols.price}}"
    )
    segs: list[Segment] = [
        (f"{clock:<{TIME_W}} ", "muted"),
        (rest, f"{p.side}-big" if big else p.side),
    ]
    if big:
        segs.append((f" {LARGE_MARK}", "amber"))
    return segs


def minute_segments(total: MinuteTotal, *, short: bool = False) -> list[Segment]:
    """The running total of the last minute, per side (`short`: without the print count)."""
    return [
        ("1m " if short else "last 1m ", "label"),
        (f"${compact_usd(total.total_usd)}", "realized"),
        (" " if short else f" in {total.count} ", "muted"),
        (f"{LONG_MARK}${compact_usd(total.long_usd)}", "long"),
        (" ", "empty"),
        (f"{SHORT_MARK}${compact_usd(total.short_usd)}", "short"),
    ]


def segments_width(segs: Sequence[Segment]) -> int:
    return sum(len(t) for t, _ in segs)
