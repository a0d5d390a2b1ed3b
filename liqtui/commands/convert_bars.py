"""`liqtui convert-bars CSV --out FILE`: bar-level market data (a CSV of open/high/low/close,
open interest and realized long/short liquidation USD per bar; optionally taker buy/sell volume
and funding) → a liqtui recording (docs/recording.md) that `liqtui calibrate --replay` scores.

Bar data has no prints, only per-bar totals, so the recording is a reconstruction, written as
Binance messages (the parsers liqtui has for every kind needed; `--symbol BTC` → BTCUSDT). Per
bar starting at t0 and lasting B (docs/model.md "Bar-level data"):

- markPriceUpdate at t0 + 2% B (open), 30% B and 60% B (the two extremes: low first on a bar
  that closed up, high first on one that closed down), 90% B (close); funding `r` on each;
- one synthetic forceOrder per side with a non-zero total: the long total at the bar's low (at
  the time of the low mark), the short total at its high. So realized notional is placed *per
  bar*, not per price: only per-window figures mean anything on such a recording;
- a closed kline at the bar's end carrying its high and low (where the model spreads the
  positions opened in the bar) and the taker buy/sell volume when the CSV has it (zero volume
  otherwise: no taker tilt is invented);
- an openInterest REST reply at the bar's end with oi_close / close coins (and one with the
  first bar's opening OI before it). A bar whose OI repeats the previous one exactly (the
  sources forward-fill missing readings) gets none, so the next real reading spans the gap.

Rows that cannot be read (a missing or non-numeric value, a non-positive price, high below
low, open or close outside the range, a negative total, a time already seen) are counted and
skipped; a file without the needed columns is a usage error (exit 2).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import itertools
import json
import math
import sys
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from liqtui.commands.common import EXIT_USAGE, fail

if TYPE_CHECKING:
    from liqtui.config import Settings

EXCHANGE = "binance"
# Column names accepted for each field, first match wins (lower-cased header names).
COLUMNS: dict[str, tuple[str, ...]] = {
    "time": ("timestamp", "t", "time", "open_time", "time_ms"),
    "open": ("price_open", "o", "open"),
    "high": ("price_high", "h", "high"),
    "low": ("price_low", "l", "low"),
    "close": ("price_close", "c", "close"),
    "oi_close": ("oi_close", "oi_usd", "open_interest_usd", "oi"),
    "long_usd": ("liquidation_long_usd", "liq_long", "long_liquidation_usd", "long_liq_usd"),
    "short_usd": ("liquidation_short_usd", "liq_short", "short_liquidation_usd", "short_liq_usd"),
}
OPTIONAL: dict[str, tuple[str, ...]] = {
    "oi_open": ("oi_open",),
    "buy_usd": ("buy_usd", "taker_buy_usd", "taker_buy_volume_usd"),
    "sell_usd": ("sell_usd", "taker_sell_usd", "taker_sell_volume_usd"),
    "funding": ("funding_close", "funding", "funding_rate"),
}
PATH_FRACTIONS = (0.02, 0.30, 0.60, 0.90)  # open, first extreme, second extreme, close
MIN_BAR_MS = 60_000


class BarsError(Exception):
    """A CSV that cannot be converted at all (exit 2, one line)."""


@dataclass(frozen=True, slots=True)
class Bar:
    t: int
    open: float
    high: float
    low: float
    close: float
    oi_close: float
    long_usd: float
    short_usd: float
    oi_open: float | None = None
    buy_usd: float | None = None
    sell_usd: float | None = None
    funding: float | None = None  # as a fraction (0.0001 = 0.01 %)


@dataclass(slots=True)
class ConvertStats:
    rows: int = 0
    bars: int = 0
    lines: int = 0
    bar_ms: int = 0
    gaps: int = 0  # missing bars between consecutive rows
    oi_repeated: int = 0
    prints: int = 0
    long_usd: float = 0.0
    short_usd: float = 0.0
    first_ms: int | None = None
    last_ms: int | None = None
    skipped: Counter[str] = field(default_factory=Counter)

    def text(self, src: Path, out: Path) -> str:
        skipped = sum(self.skipped.values())
        why = "; ".join(f"{n} {reason}" for reason, n in self.skipped.most_common())
        return (
            f"liqtui: {src}: {self.bars} bars of {_duration_text(self.bar_ms)} → {out} "
            f"({self.lines} lines, "
            f"{self.prints} synthetic prints: longs ${self.long_usd / 1e6:,.1f}M, shorts "
            f"${self.short_usd / 1e6:,.1f}M; {self.gaps} missing bars; {self.oi_repeated} "
            f"repeated OI readings left out); skipped {skipped} of {self.rows} rows"
            + (f" ({why})" if why else "")
        )


def _duration_text(ms: int) -> str:
    for unit, size in (("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)):
        if ms % size == 0:
            return f"{ms // size}{unit}"
    return f"{ms}ms"


def _index(header: Sequence[str], names: tuple[str, ...]) -> int | None:
    lowered = [h.strip().lower() for h in header]
    for name in names:
        if name in lowered:
            return lowered.index(name)
    return None


def _number(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def _time_ms(text: str) -> int:
    value = _number(text)
    if value <= 0:
        raise ValueError("not positive")
    return int(value * 1000) if value < 1e11 else int(value)  # seconds or milliseconds


def read_bars(
    lines: Iterator[str] | IO[str], *, funding_percent: bool, stats: ConvertStats
) -> list[Bar]:
    """Parse bar rows (sorted by time, one per time), counting skipped rows in `stats`."""
    reader = csv.reader(lines)
    header = next(reader, None)
    if header is None:
        raise BarsError("empty file (a header row is needed)")
    where = {key: _index(header, names) for key, names in COLUMNS.items()}
    missing = [f"{key} ({'/'.join(COLUMNS[key])})" for key, i in where.items() if i is None]
    if missing:
        raise BarsError(f"no column for {', '.join(missing)}")
    optional = {key: _index(header, names) for key, names in OPTIONAL.items()}
    width = len(header)
    bars: dict[int, Bar] = {}
    for row in reader:
        if not row or all(not v.strip() for v in row):
            continue
        stats.rows += 1
        if len(row) != width:
            stats.skipped[f"with {len(row)} fields, not {width}"] += 1
            continue
        try:
            t = _time_ms(row[where["time"]])  # type: ignore[index]
            v = {k: _number(row[i]) for k, i in where.items() if k != "time" and i is not None}
            extra = {
                k: _number(row[i]) for k, i in optional.items() if i is not None and row[i].strip()
            }
        except ValueError:
            stats.skipped["with a missing or non-numeric value"] += 1
            continue
        o, h, lo, c = v["open"], v["high"], v["low"], v["close"]
        if min(o, h, lo, c) <= 0:
            stats.skipped["with a non-positive price"] += 1
            continue
        if not lo <= min(o, c) <= max(o, c) <= h:
            stats.skipped["with open or close outside low..high"] += 1
            continue
        if v["oi_close"] <= 0 or v["long_usd"] < 0 or v["short_usd"] < 0:
            stats.skipped["with a non-positive OI or a negative liquidation total"] += 1
            continue
        if any(extra.get(k, 0.0) < 0 for k in ("buy_usd", "sell_usd", "oi_open")):
            stats.skipped["with a negative taker volume or OI"] += 1
            continue
        if t in bars:
            stats.skipped["repeating a bar time"] += 1
            continue
        funding = extra.get("funding")
        bars[t] = Bar(
            t=t,
            open=o,
            high=h,
            low=lo,
            close=c,
            oi_close=v["oi_close"],
            long_usd=v["long_usd"],
            short_usd=v["short_usd"],
            oi_open=extra.get("oi_open") or None,
            buy_usd=extra.get("buy_usd"),
            sell_usd=extra.get("sell_usd"),
            funding=None if funding is None else funding / 100 if funding_percent else funding,
        )
    return [bars[t] for t in sorted(bars)]


def bar_ms_of(bars: Sequence[Bar]) -> int:
    """The bar length: the most common step between consecutive bars."""
    steps = Counter(b.t - a.t for a, b in itertools.pairwise(bars))
    if not steps:
        raise BarsError("fewer than 2 readable bars: the bar length is unknown (give --bar)")
    return steps.most_common(1)[0][0]


def _line(t: int, msg: object, rest: str | None = None) -> str:
    doc: dict[str, object] = {"t": t, "ex": EXCHANGE, "msg": msg}
    if rest is not None:
        doc["rest"] = rest
    return json.dumps(doc, separators=(",", ":")) + "\n"


def _num(x: float) -> str:
    return f"{x:.10g}"


def bar_lines(bar: Bar, bar_ms: int, symbol: str, prev_oi: float | None) -> Iterator[str]:
    """The recording lines of one bar (module docstring), in time order."""
    t0 = bar.t
    times = [t0 + round(f * bar_ms) for f in PATH_FRACTIONS]
    up = bar.close >= bar.open
    path = [bar.open, *((bar.low, bar.high) if up else (bar.high, bar.low)), bar.close]
    rest = f"/fapi/v1/openInterest?symbol={symbol}"
    if prev_oi is None:
        oi0 = bar.oi_open or bar.oi_close
        yield _line(t0, {"symbol": symbol, "openInterest": _num(oi0 / bar.open), "time": t0}, rest)
    for i, (t, price) in enumerate(zip(times, path, strict=True)):
        mark: dict[str, object] = {"e": "markPriceUpdate", "E": t, "s": symbol, "p": _num(price)}
        if bar.funding is not None:
            mark["r"] = _num(bar.funding)
        yield _line(t, mark)
        if i not in (1, 2):
            continue
        at_low = (i == 1) == up  # the long total goes with the low, the short with the high
        side, usd = ("SELL", bar.long_usd) if at_low else ("BUY", bar.short_usd)
        if usd <= 0:
            continue
        qty = _num(usd / price)
        order = {"s": symbol, "S": side, "o": "LIMIT", "f": "IOC", "q": qty, "p": _num(price),
                 "ap": _num(price), "X": "FILLED", "l": qty, "z": qty, "T": t}  # fmt: skip
        yield _line(
            t, {"stream": "!forceOrder@arr", "data": {"e": "forceOrder", "E": t, "o": order}}
        )
    end = t0 + bar_ms - 1
    buy, sell = bar.buy_usd or 0.0, bar.sell_usd or 0.0
    vwap = (bar.high + bar.low + bar.close) / 3
    k = {"t": t0, "T": end, "s": symbol, "i": "bar", "o": _num(bar.open), "h": _num(bar.high),
         "l": _num(bar.low), "c": _num(bar.close), "v": _num((buy + sell) / vwap),
         "V": _num(buy / vwap), "q": _num(buy + sell), "x": True}  # fmt: skip
    yield _line(end - 50, {"e": "kline", "E": end - 50, "s": symbol, "k": k})
    if prev_oi is None or bar.oi_close != prev_oi:
        reply = {"symbol": symbol, "openInterest": _num(bar.oi_close / bar.close), "time": end - 9}
        yield _line(end - 9, reply, rest)


@contextmanager
def _open_out(path: Path) -> Iterator[IO[str]]:
    if path.name.endswith(".gz"):
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            yield fh
    else:
        with path.open("w", encoding="utf-8") as fh:
            yield fh


def convert(
    src: Path,
    out: Path,
    *,
    symbol: str = "BTC",
    bar_ms: int | None = None,
    funding_percent: bool = True,
) -> ConvertStats:
    """Convert the bar CSV `src` into the recording `out` (which must not exist)."""
    from liqtui.markets import exchange_symbol

    stats = ConvertStats()
    try:
        with src.open(newline="", encoding="utf-8-sig") as fh:
            bars = read_bars(fh, funding_percent=funding_percent, stats=stats)
    except UnicodeDecodeError:
        raise BarsError("not a text CSV file") from None
    except csv.Error as exc:
        raise BarsError(f"not a readable CSV file ({exc})") from None
    if not bars:
        raise BarsError(f"no readable bar among {stats.rows} rows")
    step = bar_ms or bar_ms_of(bars)
    if step < MIN_BAR_MS:
        raise BarsError(f"bars of {step} ms: at least 1 minute is needed (the model's step)")
    stats.bar_ms = step
    market = exchange_symbol(EXCHANGE, symbol)
    prev_oi: float | None = None
    with _open_out(out) as dst:
        for i, bar in enumerate(bars):
            if i and bar.t - bars[i - 1].t > step:
                stats.gaps += (bar.t - bars[i - 1].t) // step - 1
            for text in bar_lines(bar, step, market, prev_oi):
                dst.write(text)
                stats.lines += 1
            if prev_oi is not None and bar.oi_close == prev_oi:
                stats.oi_repeated += 1
            prev_oi = bar.oi_close
            stats.prints += (bar.long_usd > 0) + (bar.short_usd > 0)
            stats.long_usd += bar.long_usd
            stats.short_usd += bar.short_usd
    stats.bars = len(bars)
    stats.first_ms, stats.last_ms = bars[0].t, bars[-1].t + step
    return stats


def main(settings: Settings, args: argparse.Namespace) -> int:
    src, out = Path(args.csv), Path(args.out)
    if not src.is_file():
        return fail(f"{src}: no such file")
    if out.exists():
        return fail(f"{out}: exists (a recording is never overwritten; remove it first)")
    if not out.parent.is_dir():
        return fail(f"{out.parent}: no such folder")
    try:
        stats = convert(
            src,
            out,
            symbol=args.symbol or "BTC",
            bar_ms=args.bar,
            funding_percent=args.funding_unit == "percent",
        )
    except BarsError as exc:
        out.unlink(missing_ok=True)
        return fail(f"{src}: {exc}", EXIT_USAGE)
    print(stats.text(src, out), file=sys.stdout)
    return 0
