"""The tape view: the live liquidation tape, newest first, over every market the app follows.

Its data (`tape_data`) is the engine's realized prints (`liqtui.model.tape`), read on the UI
timer like every view (never per event); the rows are the headless tape's formats
(`liqtui.output.tape`), so the view and `liqtui tape` filter and show a print alike. The size
threshold is the widget's own (its key steps it); the exchange filter is the app's (e).

A `TextLines` Line API widget: as many rows as it is tall; only rows whose text changed are
repainted (a quiet market repaints nothing).
"""

from __future__ import annotations

from dataclasses import dataclass

from liqtui.model.engine import Engine
from liqtui.model.tape import (
    MinuteTotal,
    TapePrint,
    TapeTotals,
    minute_total,
    recent_prints,
    tape_totals,
)
from liqtui.output.ladder import LONG_MARK, SHORT_MARK, compact_usd
from liqtui.output.tape import (
    LARGE_MARK,
    columns_for,
    header_segments,
    minute_segments,
    next_threshold,
    print_segments,
    threshold_label,
)
from liqtui.ui.widgets.status import Part, TextLines

MAX_ROWS = 200  # rows kept laid out: taller than any terminal
HEAD_ROWS = 2  # title and column header


@dataclass(frozen=True, slots=True)
class TapeData:
    """What the tape shows: the newest prints that pass its filters, and their last minute."""

    prints: tuple[TapePrint, ...]
    minute: MinuteTotal
    min_usd: float
    exchange: str | None
    markets: int  # markets the tape reads
    by_market: tuple[TapeTotals, ...] = ()  # the last minute and hour per market, per exchange
    by_exchange: tuple[TapeTotals, ...] = ()


def tape_data(
    engine: Engine, *, min_usd: float, exchange: str | None, rows: int = MAX_ROWS
) -> TapeData:
    """The newest `rows` prints of every market with data, of at least `min_usd`, of
    `exchange` (None: all), and the running total of the last minute with the same filters."""
    prints = recent_prints(engine, limit=rows, min_usd=min_usd, exchange=exchange)
    total = minute_total(engine, min_usd=min_usd, exchange=exchange)
    by_market, by_exchange = tape_totals(engine, min_usd=min_usd, exchange=exchange)
    return TapeData(
        tuple(prints), total, min_usd, exchange, len(engine.markets),
        tuple(by_market), tuple(by_exchange),
    )  # fmt: skip


class TapeWidget(TextLines):
    """The liquidation tape (newest print on top), as wide as its columns: each new print
    shifts every row, and the narrower the rows, the less each shift sends."""

    def __init__(
        self,
        *,
        min_usd: float = 0.0,
        large_usd: float = 100_000.0,
        name: str | None = None,
        id: str | None = None,
    ) -> None:
        super().__init__(MAX_ROWS + HEAD_ROWS, name=name, id=id)
        self.configured_min_usd = min_usd
        self.min_usd = min_usd
        self.large_usd = large_usd
        self.data: TapeData | None = None
        self.updates = 0  # frames drawn (benchmarks/tui_bench.py)

    def cycle_threshold(self) -> float:
        """The next size threshold (the threshold key); the app pulls the tape again."""
        self.min_usd = next_threshold(self.min_usd, self.configured_min_usd)
        return self.min_usd

    def rows_wanted(self) -> int:
        # Before the first layout the height is unknown: enough rows for any terminal.
        return max(1, min(MAX_ROWS, self.size.height - HEAD_ROWS)) if self.size.height else MAX_ROWS

    def show(self, data: TapeData) -> None:
        self.data = data
        self.updates += 1
        self._parts = tape_lines(data, large_usd=self.large_usd, width=self.size.width)
        self._update()
        summary = self.summary
        if summary is not None:
            summary.show(data)

    def _update(self, *, full: bool = False) -> None:
        """Lay the rows out; only changed rows are repainted (`full`: every row, what the
        TUI benchmark compares with)."""
        self._layout(full=full)

    @property
    def total_dirty_rows(self) -> int:
        return self.total_dirty_lines

    @property
    def summary(self) -> TapeSummary | None:
        found = self.parent.query(TapeSummary) if self.parent is not None else None
        return found.first() if found else None

    def on_resize(self) -> None:
        # The columns follow the width (full exchange names from WIDE_AT on), also when paused.
        if self.data is not None:
            self._parts = tape_lines(self.data, large_usd=self.large_usd, width=self.size.width)
        super().on_resize()


def tape_lines(data: TapeData, *, large_usd: float, width: int) -> list[list[Part]]:
    cols = columns_for(width)
    where = data.exchange or "all exchanges"
    title = [
        Part.of("Liquidation tape", "heading", 10, short="Tape", shorten_at=6),
        Part.of(threshold_label(data.min_usd), "amber", 9),
        Part.of(where, "text", 8, short=data.exchange or "all", shorten_at=5),
        Part(
            tuple(minute_segments(data.minute)),
            7,
            tuple(minute_segments(data.minute, short=True)),
            shorten_at=4,
        ),
        Part.of(f"{LARGE_MARK} ≥ ${compact_usd(large_usd)}", "muted", 3),
    ]
    lines: list[list[Part]] = [title, [Part(tuple(header_segments(cols)), 10)]]
    if not data.prints:
        what = f"{threshold_label(data.min_usd)} of {where}"
        lines.append([Part.of(f"no liquidation prints ({what}) yet…", "message", 10)])
        return lines
    lines.extend(
        [Part(tuple(print_segments(p, large_usd=large_usd, cols=cols)), 10)] for p in data.prints
    )
    return lines


SUMMARY_MIN_WIDTH = 40  # narrower (80 columns): the summary gives its room to the tape


class TapeSummary(TextLines):
    """Beside the tape on a wide screen: the last minute and hour per market and per exchange,
    under the tape's filters (rows change only when prints come in or age out)."""

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(MAX_ROWS, name=name, id=id)
        self.data: TapeData | None = None

    def show(self, data: TapeData) -> None:
        self.data = data
        self.set_lines(summary_lines(data, width=self.size.width))

    def on_resize(self) -> None:
        if self.data is not None:  # hidden when narrow: laid out again for the new width
            self._parts = summary_lines(self.data, width=self.size.width)
        super().on_resize()


def summary_lines(data: TapeData, *, width: int) -> list[list[Part]]:
    if width < SUMMARY_MIN_WIDTH:
        return []
    head = (
        f"{'':<10}{'1m ' + LONG_MARK:>8}{'1m ' + SHORT_MARK:>8}"
        f"{'1h ' + LONG_MARK:>8}{'1h ' + SHORT_MARK:>8}{'prints':>8}"
    )
    lines: list[list[Part]] = []
    for title, rows in (("by market", data.by_market), ("by exchange", data.by_exchange)):
        lines.append([Part.of(f"{title} ({threshold_label(data.min_usd)})", "heading", 10)])
        lines.append([Part.of(head, "label", 10)])
        if not rows:
            lines.append([Part.of("no prints in the last hour", "message", 10)])
        for r in rows:
            segs = (
                (f"{r.name[:9]:<10}", "text"),
                (f"{_usd(r.minute_long_usd):>8}", "long"),
                (f"{_usd(r.minute_short_usd):>8}", "short"),
                (f"{_usd(r.hour_long_usd):>8}", "long"),
                (f"{_usd(r.hour_short_usd):>8}", "short"),
                (f"{r.hour_prints:>8}", "muted"),
            )
            lines.append([Part(segs, 10)])
        lines.append([])
    return lines


def _usd(value: float) -> str:
    return "·" if value <= 0 else "$" + compact_usd(value)
