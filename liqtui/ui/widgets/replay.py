"""The replay bar: one line under the views while a recording is replayed (`--replay`).

It shows the replay's state (playing, paused, seeking, finished), its speed, a progress bar
over the recording's span, the recorded time it stands at and the keys that drive it. What it
reads is the replay's `Playback` (liqtui.playback), on the UI timer; the app's replay keys ask
the same object for pause, speed and seeks. A `TextLines` widget: redrawn only when its text
changes.
"""

from __future__ import annotations

from datetime import UTC, datetime

from liqtui.playback import Playback
from liqtui.ui.widgets.status import Part, TextLines

BAR_FULL, BAR_EMPTY, BAR_HEAD = "━", "─", "╸"


def _clock(ms: int | None, *, date: bool = True) -> str:
    if ms is None:
        return "—"
    fmt = "%Y-%m-%d %H:%M:%S UTC" if date else "%H:%M:%S"
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime(fmt)


def speed_label(speed: float | None) -> str:
    return "max" if speed is None else f"{speed:g}×"


def progress_bar(fraction: float | None, cells: int) -> str:
    """`cells` wide: ━━━━╸──── (all ─ while the span is not known yet)."""
    if fraction is None or cells <= 0:
        return BAR_EMPTY * max(cells, 0)
    filled = fraction * cells
    full = int(filled)
    head = BAR_HEAD if full < cells and filled - full >= 0.5 else ""
    return (BAR_FULL * full + head).ljust(cells, BAR_EMPTY)[:cells]


def replay_parts(pb: Playback, *, bar_cells: int, keys: str = "") -> list[Part]:
    """The replay line: state, speed, bar, recorded time, span and the keys (`keys`)."""
    if pb.finished:
        state = Part(((" ■ FINISHED ", "stale-badge"),), 10)
        return [
            state,
            Part.of(f"replay finished at {_clock(pb.position_ms)}", "warning", 9),
            Part.of(progress_bar(1.0, bar_cells), "realized", 4),
            Part.of("seek back to replay again", "muted", 2),
        ]
    if pb.loading_history:
        return [
            Part(((" ⏳ HISTORY ", "paused"),), 10),
            Part.of("applying the recording's backfilled history…", "warning", 9, short="history…"),
        ]
    if pb.seeking:
        target = pb.goal_ms if pb.goal_ms is not None else pb.seek_target_ms
        state = Part(((" ⏩ SEEKING ", "paused"),), 10)
        when = Part.of(f"→ {_clock(target)}", "warning", 9, short=f"→ {_clock(target, date=False)}")
    elif pb.paused:
        state = Part(((" ⏸ PAUSED ", "paused"),), 10)
        when = Part.of(_clock(pb.position_ms), "price", 9, short=_clock(pb.position_ms, date=False))
    else:
        state = Part(((" ▶ REPLAY ", "heading"),), 10)
        when = Part.of(_clock(pb.position_ms), "price", 9, short=_clock(pb.position_ms, date=False))
    fraction = pb.progress
    pct = f"{fraction * 100:3.0f}%" if fraction is not None else ""
    span = (
        f"{_clock(pb.start_ms, date=False)}→{_clock(pb.end_ms, date=False)}"
        if pb.start_ms is not None and pb.end_ms is not None
        else ""
    )
    return [
        state,
        Part.of(speed_label(pb.speed), "amber", 8),
        Part(((progress_bar(fraction, bar_cells), "realized"), (f" {pct}", "muted")), 6),
        when,
        Part.of(span, "muted", 3),
        Part.of(keys, "muted", 1),
    ]


class ReplayBar(TextLines):
    """One line: the replay's state and progress (shown only while replaying)."""

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(1, name=name, id=id)

    def show(self, pb: Playback, keys: str = "") -> None:
        width = self.size.width
        self.set_lines([replay_parts(pb, bar_cells=24 if width >= 120 else 12, keys=keys)])
