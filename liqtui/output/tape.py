"""The liquidation tape's filters and formats, shared by the TUI's tape view and `liqtui tape`.

One print is one line: time, exchange, market, side (▼ a long liquidated: a forced sell; ▲ a
short: a forced buy), size in USD and price, marked when it is at or above the large size.
The headless text line carries the date and the exact size (logs, grep); the view shows the
time of day and a compact size in columns; JSON Lines carry every field with its unit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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

TIME_W, EXCHANGE_W, SYMBOL_W, SIDE_W, USD_W, PRICE_W = 8, 11, 9, 7, 8, 13


def header_segments(*, wide: bool) -> list[Segment]:
    ex_w = EXCHANGE_W if wide else 5
    return [
        (f"{'time':<{TIME_W}} ", "label"),
        (f"{'exch':<{ex_w}} ", "label"),
        (f"{'market':<{SYMBOL_W}} ", "label"),
        (f"{'side':<{SIDE_W}} ", "label"),
        (f"{'size':>{USD_W + 1}} ", "label"),
        (f"{'price':>{PRICE_W}}", "label"),
    ]


def print_segments(p: TapePrint, *, large_usd: float, wide: bool) -> list[Segment]:
    """A print as the view's row: side in words, mark and color (never hue alone); a large
    print bold with a mark."""
    big = p.notional_usd >= large_usd > 0
    role = p.side  # "long" / "short": the side's color
    clock = datetime.fromtimestamp(p.time_ms / 1000, tz=UTC).strftime("%H:%M:%S")
    ex_w = EXCHANGE_W if wide else 5
    exchange = p.exchange if wide else p.exchange[:5]
    size = "$" + compact_usd(p.notional_usd)
    # Two style runs per row (as aggr: the row in its side's color; bold when large): every new
    # print shifts every row of the view, and each run costs its escape codes on the wire.
    rest = (
        f"{exchange:<{ex_w}} {p.symbol[:SYMBOL_W]:<{SYMBOL_W}} "
        f"{side_mark(p.side)} {p.side:<{SIDE_W - 2}} {size:>{USD_W + 1}} "
        f"{_price(p.price):>{PRICE_W}}"
    )
    segs: list[Segment] = [
        (f"{clock:<{TIME_W}} ", "muted"),
        (rest, f"{p.side}-big" if big else role),
    ]
    if big:
        segs.append((f" {LARGE_MARK}", "amber"))
    return segs


def minute_segments(total: MinuteTotal) -> list[Segment]:
    """The running total of the last minute, per side."""
    return [
        ("last 1m ", "label"),
        (f"${compact_usd(total.total_usd)}", "realized"),
        (f" in {total.count} ", "muted"),
        (f"{LONG_MARK}${compact_usd(total.long_usd)}", "long"),
        (" ", "empty"),
        (f"{SHORT_MARK}${compact_usd(total.short_usd)}", "short"),
    ]


def segments_width(segs: Sequence[Segment]) -> int:
    return sum(len(t) for t, _ in segs)
