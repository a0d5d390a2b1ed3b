"""Replay controls: what the UI asks of a replay (pause, speed, seek) and where the replay is.

A leaf both sides share: the replay (liqtui.feeds.replay) owns a `Playback`, obeys it in its
pacing and reports its position in it; the app (which never imports the feeds) finds it as the
source's `playback` and drives it with its keys. Plain data and a wake-up event, no I/O.

Times are recorded times (the recording's receive times, ms since the epoch). A seek asks for a
target; the replay answers by applying lines without pacing up to it (forward) or by rebuilding
from the recording's start up to it (back: the model cannot run backwards).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

MINUTE_MS, HOUR_MS = 60_000, 3_600_000
# Replay speeds the speed keys step through (multiples of real time); past the last: max.
SPEEDS: tuple[float, ...] = (0.25, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 5000)


@dataclass
class Playback:
    speed: float | None = 1.0  # multiple of real time; None: as fast as possible
    paused: bool = False
    start_ms: int | None = None  # the recording's first and last recorded times (span scan)
    end_ms: int | None = None
    position_ms: int | None = None  # recorded time of the last line applied
    seek_target_ms: int | None = None  # asked for, not yet taken by the replay
    goal_ms: int | None = None  # the target the replay is on its way to
    seeking: bool = False  # lines are being applied without pacing up to the target
    finished: bool = False  # the last line was applied
    loading_history: bool = False  # the recording's backfill answers are being applied
    hold_at_end: bool = False  # stay alive at the end (seeking back is still possible)
    rebuilds: int = 0  # seeks back done (each replays the file from its start)
    last_seek_s: float | None = None  # how long the last seek took (wall seconds)
    _wake: asyncio.Event | None = field(default=None, repr=False)

    # -- asked by the UI ------------------------------------------------------------------------
    def toggle_pause(self) -> None:
        self.paused = not self.paused
        self.wake()

    def faster(self) -> None:
        if self.speed is None:
            return
        higher = [s for s in SPEEDS if s > self.speed + 1e-9]
        self.speed = higher[0] if higher else None
        self.wake()

    def slower(self) -> None:
        if self.speed is None:
            self.speed = SPEEDS[-1]
        else:
            lower = [s for s in SPEEDS if s < self.speed - 1e-9]
            self.speed = lower[-1] if lower else self.speed
        self.wake()

    def seek(self, delta_ms: int) -> int | None:
        """Ask for the recorded time `delta_ms` from the current one (or from a target still
        being sought), kept within the recording; None when nothing is known yet."""
        pending = (self.seek_target_ms, self.goal_ms, self.position_ms)
        base = next((t for t in pending if t is not None), None)
        if base is None:
            return None
        target = base + delta_ms
        if self.start_ms is not None:
            target = max(target, self.start_ms)
        if self.end_ms is not None:
            target = min(target, self.end_ms)
        self.seek_target_ms = target
        self.wake()
        return target

    # -- read by the UI -------------------------------------------------------------------------
    @property
    def progress(self) -> float | None:
        """How far the replay is through the recording (0 to 1), None before the span is known."""
        if self.start_ms is None or self.end_ms is None or self.position_ms is None:
            return None
        if self.finished:
            return 1.0
        span = self.end_ms - self.start_ms
        if span <= 0:
            return 1.0
        return min(max((self.position_ms - self.start_ms) / span, 0.0), 1.0)

    # -- the replay's side ----------------------------------------------------------------------
    def wake(self) -> None:
        if self._wake is not None:
            self._wake.set()

    async def wait(self, timeout: float | None) -> bool:
        """Sleep up to `timeout` seconds (None: until woken); True when a control changed."""
        if self._wake is None:
            self._wake = asyncio.Event()
        event = self._wake
        try:
            if timeout is None:
                await event.wait()
            else:
                await asyncio.wait_for(event.wait(), timeout=max(timeout, 0.0))
        except TimeoutError:
            return False
        finally:
            event.clear()
        return True

    def take_seek(self) -> int | None:
        """The target asked for since the last call (None: no seek asked)."""
        target, self.seek_target_ms = self.seek_target_ms, None
        return target
