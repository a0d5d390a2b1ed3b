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
from liqtui.model.tape import MinuteTotal, TapePrint, minute_total, recent_prints
from liqtui.output.ladder import compact_usd
from liqtui.output.tape import (
    LARGE_MARK,
    header_segments,
    minute_segments,
    next_threshold,
    print_segments,
    threshold_label,
)
from liqtui.ui.widgets.status import Part, TextLines

MAX_ROWS = 200  # rows kept laid out: taller than any terminal
HEAD_ROWS = 2  # title and column header
WIDE_AT = 72  # from this width on, exchanges get their full names


@dataclass(frozen=True, slots=True)
class TapeData:
    """What the tape shows: the newest prints that pass its filters, and their last minute."""

    prints: tuple[TapePrint, ...]
    minute: MinuteTotal
    min_usd: float
    exchange: str | None
    markets: int  # markets the tape reads


def tape_data(
    engine: Engine, *, min_usd: float, exchange: str | None, rows: int = MAX_ROWS
) -> TapeData:
    """The newest `rows` prints of every market with data, of at least `min_usd`, of
    `exchange` (None: all), and the running total of the last minute with the same filters."""
    prints = recent_prints(engine, limit=rows, min_usd=min_usd, exchange=exchange)
    total = minute_total(engine, min_usd=min_usd, exchange=exchange)
    return TapeData(tuple(prints), total, min_usd, exchange, len(engine.markets))


class TapeWidget(TextLines):
    """The liquidation tape (newest print on top)."""

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

    def cycle_threshold(self) -> float:
        """The next size threshold (the threshold key); the app pulls the tape again."""
        self.min_usd = next_threshold(self.min_usd, self.configured_min_usd)
        return self.min_usd

    def rows_wanted(self) -> int:
        return max(1, min(MAX_ROWS, self.size.height - HEAD_ROWS)) if self.size.height else 40

    def show(self, data: TapeData) -> None:
        self.data = data
        self.set_lines(tape_lines(data, large_usd=self.large_usd, width=self.size.width))

    def on_resize(self) -> None:
        # The columns follow the width (full exchange names from WIDE_AT on), also when paused.
        if self.data is not None:
            self._parts = tape_lines(self.data, large_usd=self.large_usd, width=self.size.width)
        super().on_resize()


def tape_lines(data: TapeData, *, large_usd: float, width: int) -> list[list[Part]]:
    wide = width >= WIDE_AT
    where = data.exchange or "all exchanges"
    title = [
        Part.of("Liquidation tape", "heading", 10, short="Tape"),
        Part.of(threshold_label(data.min_usd), "amber", 9),
        Part.of(where, "text", 8, short=data.exchange or "all"),
        Part(tuple(minute_segments(data.minute)), 7),
        Part.of(f"{LARGE_MARK} ≥ ${compact_usd(large_usd)}", "muted", 3),
    ]
    lines: list[list[Part]] = [title, [Part(tuple(header_segments(wide=wide)), 10)]]
    if not data.prints:
        what = f"{threshold_label(data.min_usd)} of {where}"
        lines.append([Part.of(f"no liquidation prints ({what}) yet…", "message", 10)])
        return lines
    lines.extend(
        [Part(tuple(print_segments(p, large_usd=large_usd, wide=wide)), 10)] for p in data.prints
    )
    return lines
