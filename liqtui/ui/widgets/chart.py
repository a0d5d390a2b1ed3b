"""The chart view: price with open interest, or realized liquidations over time (plotext).

plotext builds a chart in tens of milliseconds (tui.md measured 43–66 ms), so the
chart is rebuilt at most once every `min_interval_s` (0.5 s), only while its view is visible,
and only when its data changed. Each chart is built on its own plotext figure object, never on
plotext's module-level figure, so two apps (or tests) never share plot state. The chart is
built without color and colored by liqtui's theme roles here (plot marks in the series' color,
frame and ticks muted), then drawn through the Line API: only changed lines are refreshed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from liqtui.model.density import EXCHANGE_INDEX
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.output.ladder import LONG_MARK, SHORT_MARK
from liqtui.ui.history import History
from liqtui.ui.widgets.status import Seg, ThemedLines

CHART_MODES = ("price", "realized")
CHART_TITLES = {"price": "price and open interest", "realized": "realized liquidations"}
MIN_INTERVAL_S = 0.5
_MARKS = set("▖▗▘▙▚▛▜▝▞▟▀▄▌▐█•") | {chr(c) for c in range(0x2801, 0x2900)}


@dataclass(frozen=True, slots=True)
class Series:
    title: str
    x: tuple[float, ...]
    y: tuple[float, ...]
    role: str  # theme role of the plot marks
    kind: str = "line"  # "line" or "bar"


def chart_series(
    engine: Engine, history: History, snap: MarketSnapshot, mode: str, *, exchange: str | None
) -> tuple[object, list[Series], str]:
    """The chart's key (changes when its data does), series and a message if empty."""
    if mode == "price":
        cols = history.columns(snap.symbol)
        pts = [(c.t_ms, c.price, c.oi_usd) for c in cols if c.price]
        if snap.price:
            oi = sum(snap.open_interest.values()) * snap.price
            pts.append((snap.as_of_ms, snap.price, oi))
        now = snap.as_of_ms
        x = tuple((t - now) / 60_000 for t, _, _ in pts)
        prices = [p for _, p, _ in pts]
        punit, pdiv = ("k", 1e3) if prices and max(prices) >= 10_000 else ("", 1.0)
        title = f"{snap.symbol} price{f' ({punit} USD)' if punit else ''}, minutes ago"
        series = [Series(title, x, tuple(p / pdiv for p in prices), "price")]
        ois = [o for _, _, o in pts]
        if any(ois):
            unit, div = _unit(max(ois))
            series.append(
                Series(f"open interest ({unit} USD)", x, tuple(o / div for o in ois), "text")
            )
        key: tuple[object, ...] = ("price", snap.symbol, history.version, snap.price)
        return key, series, f"{snap.symbol}: collecting price history…"
    # realized liquidations over time, from the realized log (the window's prints)
    model = engine.markets.get(snap.symbol)
    if model is None:
        return (("realized", snap.symbol, None), [], f"no realized liquidations for {snap.symbol}")
    t, side, exch, _prices, notional = model.realized.columns()
    span = min(snap.window_ms, 6 * 3600 * 1000)
    n_buckets = 60
    bucket = max(span // n_buckets, 60_000)
    now = snap.as_of_ms
    start = now - bucket * n_buckets
    series = []
    mask = t >= start
    if exchange is not None:
        mask &= exch == EXCHANGE_INDEX.get(exchange, -1)
    idx = ((t[mask] - start) // bucket).clip(0, n_buckets - 1)
    x = tuple(-(n_buckets - i - 0.5) * bucket / 60_000 for i in range(n_buckets))
    for label, s, role in (
        (f"{LONG_MARK} longs", 0, "long"),
        (f"{SHORT_MARK} shorts", 1, "short"),
    ):
        sel = side[mask] == s
        sums = np.bincount(idx[sel], weights=notional[mask][sel], minlength=n_buckets)
        unit, div = _unit(float(sums.max(initial=0.0)))
        title = f"R {label} liquidated per {bucket // 60_000}m ({unit} USD, minutes ago)"
        series.append(Series(title, x, tuple(float(v) / div for v in sums), role, "bar"))
    key = ("realized", snap.symbol, int(mask.sum()), now // bucket, exchange)
    return key, series, f"no realized liquidations for {snap.symbol}"


def _unit(peak: float) -> tuple[str, float]:
    for unit, div in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if peak >= div:
            return unit, div
    return "", 1.0


def _figure(width: int, height: int) -> object:
    from plotext._kernel.terminal import terminal  # plotext >= 6: one figure per terminal

    term = terminal()
    term.limit(False, False)
    fig = term._master
    fig.plot_size(width, height)
    return fig


def build_chart(series: Series, width: int, height: int) -> list[str]:
    """One chart as colorless text lines, on a figure of its own."""
    fig = _figure(width, height)
    if series.kind == "bar":
        fig.draw(fig.bar(list(series.x), list(series.y)))  # type: ignore[attr-defined]
    else:
        fig.draw(fig.signal(list(series.x), list(series.y)))  # type: ignore[attr-defined]
    fig.title(series.title)  # type: ignore[attr-defined]
    text = fig.build().string(colorless=True)  # type: ignore[attr-defined]
    return str(text).split("\n")


def color_line(text: str, role: str, width: int) -> tuple[Seg, ...]:
    """A colorless chart line as (text, role) runs: plot marks in `role`, the rest muted."""
    out: list[Seg] = []
    for ch in text[:width].ljust(width):
        r = role if ch in _MARKS else ("empty" if ch == " " else "muted")
        if out and out[-1][1] == r:
            out[-1] = (out[-1][0] + ch, r)
        else:
            out.append((ch, r))
    return tuple(out)


class ChartWidget(ThemedLines):
    """One or two stacked plotext charts."""

    def __init__(
        self,
        *,
        min_interval_s: float = MIN_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id)
        self.min_interval_s = min_interval_s
        self.clock = clock
        self.mode = CHART_MODES[0]
        self.builds = 0
        self.last_build_ms = 0.0
        self._built_at = -1e9
        self._data_key: object = None
        self._last: tuple[object, Sequence[Series], str] | None = None
        self._build = build_chart
        self.message = ""

    def set_mode(self, mode: str) -> None:
        """Show the other chart (price or realized); drawn at once on the next `show`."""
        self.mode = mode
        self._data_key = None
        self._built_at = -1e9

    def show(self, key: object, series: Sequence[Series], message: str = "") -> None:
        """Draw `series` (stacked) unless the same data is on screen; at most once per
        `min_interval_s` (a newer call in between is kept and drawn on a later one)."""
        self._last = (key, series, message)
        full_key = (key, self.size, message)
        if full_key == self._data_key:
            return
        now = self.clock()
        if now - self._built_at < self.min_interval_s and self._shown:
            return
        self._built_at = now
        self._data_key = full_key
        self._draw(series, message)

    def on_resize(self) -> None:
        self._data_key = None
        self._built_at = -1e9
        if self._last is not None:
            self.show(*self._last)

    def _draw(self, series: Sequence[Series], message: str) -> None:
        width, height = self.size.width, self.size.height
        if width <= 0 or height <= 0:
            return
        lines: list[tuple[Seg, ...]] = []
        usable = [s for s in series if len(s.x) >= 2]
        if not usable or width < 20 or height < 6:
            text = message or "not enough history for a chart yet"
            blank = ((" " * width, "empty"),)
            lines = [blank] * height
            lines[height // 2] = ((text[:width].center(width), "message"),)
        else:
            t0 = time.perf_counter()
            each = height // len(usable)
            for i, s in enumerate(usable):
                h = each if i < len(usable) - 1 else height - each * (len(usable) - 1)
                try:
                    raw = self._build(s, width, h)
                except Exception as exc:  # a plotting bug must not take the app down
                    raw = [f"chart error: {type(exc).__name__}: {exc}"]
                raw = (raw + [""] * h)[:h]
                lines.extend(color_line(r, s.role, width) for r in raw)
            self.builds += 1
            self.last_build_ms = (time.perf_counter() - t0) * 1000
        self.repaint_lines(lines)
