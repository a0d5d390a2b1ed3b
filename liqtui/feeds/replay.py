"""Replay a recording through the live parsers into the engine.

`speed` is a multiple of real time (None: as fast as possible). Quiet stretches longer than
`max_gap_s` of wall time are cut short, so a file holding several capture windows a day apart
replays without waiting for days; the health note says how much recorded time was skipped.

The stream clock is the lines' receive times. A line more than MAX_CLOCK_LEAD_MS ahead of it is
only believed when the next line follows it (a new capture window); a lone line from the
future is replayed at the stream's clock and counted (its feed's `retimed`), so one broken line
can neither move the clock nor empty the realized window, and what it carries is not lost.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

from liqtui.events import MarketEvent
from liqtui.exchanges import make_parsers
from liqtui.exchanges.spec import ExchangeParser, PartlyBad, decoded
from liqtui.feeds.backfilled import is_history, maybe_history, tidy
from liqtui.feeds.dispatch import MAX_CLOCK_LEAD_MS, deliver
from liqtui.feeds.recording import (
    RECORDING_FEED,
    ReadStats,
    RecordLine,
    _raw_lines,
    read_recording,
)
from liqtui.health import FeedHealth
from liqtui.playback import Playback
from liqtui.source import EventSink


def apply_line(line: RecordLine, sink: EventSink, parsers: dict[str, ExchangeParser]) -> None:
    """Parse one recorded message with the live parser and apply it (counted, never raised)."""
    parser = parsers.get(line.ex)
    if parser is None:
        health = sink.feed(line.ex)
        health.messages += 1
        health.ignored += 1
        health.note = "exchange not supported by this version"
        sink.advance(line.t)
        return
    deliver(
        line.msg,
        exchange=line.ex,
        parser=parser,
        sink=sink,
        health=sink.feed(line.ex),
        receive_ms=line.t,
        rest=line.rest,
    )


def steady_clock(
    lines: Iterable[RecordLine], hold: Callable[[RecordLine, int], None]
) -> Iterator[RecordLine]:
    """`lines`, with each line whose receive time jumps more than MAX_CLOCK_LEAD_MS ahead of the
    stream clock moved back to that clock unless the next line follows the jump;
    `hold(line, clock)` hears of each one moved. The first line is held the same way (the
    clock starts with it)."""
    clock: int | None = None
    pending: RecordLine | None = None
    for line in lines:
        if pending is not None:
            if line.t >= pending.t - MAX_CLOCK_LEAD_MS:  # the stream followed: a real jump
                yield pending
                clock = pending.t if clock is None else max(clock, pending.t)
            else:
                at = clock if clock is not None else line.t
                hold(pending, at)
                yield replace(pending, t=at)
            pending = None
        if clock is None or line.t > clock + MAX_CLOCK_LEAD_MS:
            pending = line  # believed once the next line confirms it
            continue
        yield line
        clock = max(clock, line.t)
    if pending is not None:
        if clock is not None:  # nothing after it to confirm the jump
            hold(pending, clock)
            pending = replace(pending, t=clock)
        yield pending  # (a one-line recording: nothing to compare with)


class _Feeds(Protocol):
    def feed(self, name: str) -> FeedHealth: ...


def _count_held_line(sink: _Feeds) -> Callable[[RecordLine, int], None]:
    def hold(line: RecordLine, clock: int) -> None:
        health = sink.feed(line.ex)
        health.retimed += 1
        ahead_s = (line.t - clock) // 1000
        health.last_error = (
            f"receive time {line.t} was {ahead_s} s ahead of the recording's clock: "
            "replayed at the clock"
        )

    return hold


def _history_line(line: RecordLine) -> bool:
    """A backfill answer (docs/recording.md): history, applied before the recording's lines."""
    return line.rest is not None and is_history(line.ex, line.rest)


def history_events(path: str | Path) -> list[MarketEvent]:
    """The events of a recording's backfill answers, as the backfill made them (market units,
    plausible, one per time and kind, in time order); bad answers give none."""
    parsers = make_parsers()  # of their own: the replay's keep their live state
    events: list[MarketEvent] = []
    for line in read_recording(path, raw=True, rest=maybe_history):
        if not _history_line(line) or line.ex not in parsers:
            continue
        assert line.rest is not None
        try:
            events.extend(parsers[line.ex].rest(line.rest, decoded(line.msg)) or [])
        except PartlyBad as exc:
            events.extend(exc.events)
        except Exception:  # a bad answer: it gave nothing in the live run either
            continue
    return tidy(events)


def apply_history(
    events: list[MarketEvent], sink: EventSink, cancel: threading.Event | None = None
) -> None:
    """Apply a recording's backfill answers (`history_events`) before its lines, the way the
    live run built its history (liqtui.feeds.preload: history in time order, then the live
    data), so a replay of a recording made at a cold start reproduces the backfilled map.
    `cancel` set: stops (a worker thread's build, the app quitting)."""
    for i, event in enumerate(events):
        if cancel is not None and not i % 4096 and cancel.is_set():
            return
        sink.advance(event.time_ms)
        sink.apply(event)


class ReplaySource:
    name = "replay"

    def __init__(
        self, path: str | Path, *, speed: float | None = 1.0, max_gap_s: float = 5.0
    ) -> None:
        if speed is not None and not speed > 0:
            raise ValueError("speed must be positive")
        self.path = Path(path)
        self.speed = speed
        self.max_gap_s = max_gap_s
        self.stats = ReadStats()
        self.skipped_gap_ms = 0
        self.finished = False
        # Recorded time from which the replay plays as the present (alerts, see the app): a
        # paced replay from its first line; at --speed max all of it is catch-up, to its end.
        self.live_from_ms: int | None = None
        self.parsers = make_parsers()  # fresh state (contract sizes, ticker deltas) per replay
        # The controls (pause, speed, seek) the app drives; the pacing obeys them.
        self.playback = Playback(speed=speed)
        self._sink: EventSink | None = None  # where lines go now (see _CurrentSink)
        self._seen_bad = 0
        self._history: list[MarketEvent] = []

    def _account_bad_lines(self, sink: EventSink, seen_bad: int) -> int:
        """Move newly counted bad lines and damaged stretches into the recording feed's
        skipped count."""
        skipped = self.stats.skipped
        if skipped > seen_bad:
            health = sink.feed(RECORDING_FEED)
            health.skipped += skipped - seen_bad
            health.messages += skipped - seen_bad
            health.last_error = self.stats.last_error
        return skipped

    def problem(self) -> str | None:
        """After the replay: why the file gave nothing (no recording line in it), else None."""
        if not self.finished or self.stats.good:
            return None
        n = self.stats.skipped
        return (
            f"{self.path}: no recognised liqtui recording lines ({n} line{'s' * (n != 1)} skipped)"
        )

    def _finish(self, sink: EventSink) -> None:
        self.finished = True
        remarks = self.stats.remarks()
        if remarks:
            sink.feed(RECORDING_FEED).note = remarks
        for health in _feeds_of(sink):
            health.state = "finished"
        problem = self.problem()
        if problem is not None:  # the status line says so, not "waiting for data"
            health = sink.feed(RECORDING_FEED)
            health.state = "failed"
            health.last_error = problem

    def run_sync(self, sink: EventSink) -> None:
        """Replay the whole file at once (headless snapshot)."""
        seen_bad = 0
        apply_history(history_events(self.path), sink)
        lines = steady_clock(
            read_recording(self.path, self.stats, raw=True), _count_held_line(sink)
        )
        for line in lines:
            seen_bad = self._account_bad_lines(sink, seen_bad)
            if not _history_line(line):
                apply_line(line, sink, self.parsers)
        self._account_bad_lines(sink, seen_bad)
        self._finish(sink)

    async def run(self, sink: EventSink) -> None:
        """Replay paced by the recorded receive times, obeying `playback` (pause, speed,
        seek). Seeks happen aside (`_seek_aside`, in a worker thread) for a sink that can
        start over and copy its state (the engine, the app's history sink); for others a seek
        forward applies the lines up to the target here and a seek back is ignored. With
        `playback.hold_at_end` the replay stays after its last line, finished, until
        cancelled: a seek back can still start it over."""
        self._sink = sink
        # The span (for the progress bar) is read beside the replay, in a thread of its own,
        # told to stop when the replay ends (a thread cannot be cancelled; an app quitting
        # early would wait for it).
        stop = threading.Event()
        span = asyncio.ensure_future(asyncio.to_thread(recording_span, self.path, stop))
        span.add_done_callback(self._take_span)
        try:
            await self._run(sink)
        finally:
            stop.set()

    async def _run(self, sink: EventSink) -> None:
        pb = self.playback
        self._history = await asyncio.to_thread(history_events, self.path)
        await self._apply_history(sink)
        lines: Iterator[RecordLine] = self._lines()
        while True:
            ask = await self._play(sink, lines)
            if ask is None:  # the end of the file
                self._finish(sink)
                pb.finished, pb.seeking = True, False
                if not pb.hold_at_end:
                    return
                ask = _Seek(await self._wait_for_seek_back(sink), None)
            lines = await self._seek_aside(sink, ask)

    async def _apply_history(self, sink: EventSink) -> None:
        """The backfill answers first. Days of history take seconds to apply: where the sink
        can start over (the app's), they are built off to the side in a worker thread and
        taken over in one step, so the app keeps drawing and answering keys (and quits at
        once) meanwhile; elsewhere (headless) they are applied here."""
        if not self._history or not _can_restart(sink):
            apply_history(self._history, sink)
            return
        fresh: EventSink = sink.start_over()  # type: ignore[attr-defined]
        cancel = threading.Event()
        self.playback.loading_history = True
        try:
            await asyncio.to_thread(apply_history, self._history, fresh, cancel)
        except asyncio.CancelledError:
            cancel.set()  # the thread stops within a few thousand events
            raise
        finally:
            self.playback.loading_history = False
        sink.take_over(fresh)  # type: ignore[attr-defined]

    def _lines(self) -> Iterator[RecordLine]:
        """The recording's lines after its backfill answers, on a steady clock; bad lines are
        counted into the current sink's recording feed as they are met."""
        self.stats = ReadStats()
        self._seen_bad = 0
        held = _count_held_line(_CurrentSink(self))
        for line in steady_clock(read_recording(self.path, self.stats, raw=True), held):
            self._seen_bad = self._account_bad_lines(self._current(), self._seen_bad)
            if not _history_line(line):
                yield line
        self._seen_bad = self._account_bad_lines(self._current(), self._seen_bad)

    def _current(self) -> EventSink:
        assert self._sink is not None  # set by run() before any line is read
        return self._sink

    def _take_span(self, task: asyncio.Future[tuple[int | None, int | None]]) -> None:
        if task.cancelled() or task.exception() is not None:
            return
        first, last = task.result()
        pb = self.playback
        pb.start_ms = first if pb.start_ms is None or first is None else min(first, pb.start_ms)
        pb.end_ms = last

    async def _wait_for_seek_back(self, sink: EventSink) -> int:
        pb = self.playback
        while True:
            await pb.wait(None)
            asked = pb.take_seek()
            if asked is not None and _can_restart(sink) and asked < (pb.position_ms or 0):
                return asked

    async def _seek_aside(self, sink: EventSink, ask: _Seek) -> Iterator[RecordLine]:
        """Seek off to the side: back, the recording replayed from its start into a fresh sink
        (`sink.start_over()`); forward, the lines up to the target applied to a copy of the
        sink's state (`sink.copy_state()`). Either runs in a worker thread while the app keeps
        showing the state it has; `sink` then takes the new state over in one step. Returns
        the lines after the target."""
        pb = self.playback
        started = time.monotonic()
        target = ask.target
        pb.seeking, pb.goal_ms = True, target
        self.live_from_ms = target  # catch-up before it: no alerts, views keep centring
        if ask.lines is None:
            fresh: EventSink = sink.start_over()  # type: ignore[attr-defined]
        else:
            fresh = sink.copy_state()  # type: ignore[attr-defined]
        cancel = threading.Event()
        try:
            lines, target = await asyncio.to_thread(self._build, fresh, ask.lines, target, cancel)
        except asyncio.CancelledError:
            cancel.set()  # the thread stops at its next line
            raise
        finally:
            self._sink = sink
        sink.take_over(fresh)  # type: ignore[attr-defined]
        self.finished = pb.finished = False
        pb.position_ms = target
        if ask.lines is None:
            pb.rebuilds += 1
        pb.seeking, pb.goal_ms = False, None
        pb.last_seek_s = time.monotonic() - started
        return lines

    def _build(
        self,
        fresh: EventSink,
        lines: Iterator[RecordLine] | None,
        target: int,
        cancel: threading.Event,
    ) -> tuple[Iterator[RecordLine], int]:
        """(Worker thread.) Apply `lines` (None: the recording from its start, after its
        history) to `fresh` up to `target` (seeks asked meanwhile move the target); the lines
        from there on and the target reached. Touches nothing the app reads: `fresh` is the
        replay's own until taken over."""
        pb = self.playback
        self._sink = fresh
        if lines is None:
            self.parsers = make_parsers()  # fresh state (contract sizes, ticker deltas)
            apply_history(self._history, fresh)
            pb.position_ms = None
            lines = self._lines()
        for line in lines:
            if cancel.is_set():
                break
            asked = pb.take_seek()
            if asked is not None:  # a later seek: its target (not before what is applied)
                target = pb.goal_ms = max(asked, pb.position_ms or asked)
            if line.t > target:
                lines = itertools.chain((line,), lines)  # the first line after the target
                break
            _mark_replaying(fresh, line)
            apply_line(line, fresh, self.parsers)
            pb.position_ms = line.t if pb.position_ms is None else max(pb.position_ms, line.t)
        fresh.advance(target)  # the clock stands at the target, not a line before it
        return lines, target

    async def _play(self, sink: EventSink, lines: Iterator[RecordLine]) -> _Seek | None:
        """Apply `lines`, paced, up to the recording's end (None) or until a seek asks for
        another time (the seek, done aside by `_seek_aside`). A sink that cannot start over
        or copy its state gets seeks forward here: the lines up to the target without pacing
        (and no seeks back)."""
        pb = self.playback
        last_t: int | None = None
        goal: int | None = None
        seek_started: float | None = None
        # The pacing's anchor: at wall time anchor_wall the replay stood at recorded time
        # anchor_t (None: not anchored; anchored at the next line due, or where it stopped).
        anchor_wall: float | None = None
        anchor_t: int | None = None
        budget_start = time.monotonic()
        for line in lines:
            _mark_replaying(sink, line)
            while True:  # until this line is due: seeks, pause, speed changes, the pacing
                asked = pb.take_seek()
                if asked is not None:
                    here = pb.position_ms if pb.position_ms is not None else line.t
                    if asked < here:
                        if _can_restart(sink):
                            return _Seek(asked, None)
                    elif _can_restart(sink) and callable(getattr(sink, "copy_state", None)):
                        return _Seek(asked, itertools.chain((line,), lines))
                    else:
                        goal = pb.goal_ms = asked
                        pb.seeking = True
                        seek_started = seek_started or time.monotonic()
                        self.live_from_ms = goal
                if goal is not None:
                    if line.t <= goal:
                        break  # on the way to the target (and at it): at once
                    # Arrived: the replay stands at the target now and plays on from there.
                    pb.last_seek_s = time.monotonic() - (seek_started or time.monotonic())
                    anchor_wall, anchor_t = time.monotonic(), goal
                    sink.advance(goal)  # the clock stands at the target, not a line before it
                    pb.position_ms = max(pb.position_ms or goal, goal)
                    goal = pb.goal_ms = seek_started = None
                    pb.seeking = False
                speed = pb.speed
                if pb.paused:
                    if anchor_wall is not None and anchor_t is not None and speed is not None:
                        anchor_t = min(_reached(anchor_wall, anchor_t, speed), line.t)
                    anchor_wall = None  # time stands still until resumed
                    await pb.wait(None)
                    continue
                if speed is None:
                    break  # max: no pacing
                if self.live_from_ms is None:
                    self.live_from_ms = line.t  # a paced replay plays as the present
                now = time.monotonic()
                if anchor_wall is None or anchor_t is None:
                    anchor_wall = now
                    if anchor_t is None:
                        anchor_t = pb.position_ms if pb.position_ms is not None else line.t
                wait = anchor_wall + (line.t - anchor_t) / 1000 / speed - now
                if wait > self.max_gap_s:  # a quiet stretch: cut short
                    skip_s = wait - self.max_gap_s
                    self.skipped_gap_ms += int(skip_s * 1000 * speed)
                    anchor_wall -= skip_s
                    wait = self.max_gap_s
                if wait <= 0:
                    break
                if await pb.wait(wait):  # a control changed: stand where the replay got to
                    anchor_t = min(_reached(anchor_wall, anchor_t, speed), line.t)
                    anchor_wall = time.monotonic()
                    continue
                budget_start = time.monotonic()
                break
            apply_line(line, sink, self.parsers)
            last_t = line.t
            if pb.start_ms is None:
                pb.start_ms = line.t
            pb.position_ms = line.t if pb.position_ms is None else max(pb.position_ms, line.t)
            # Hand the loop back regularly so the UI keeps drawing during a fast replay.
            if time.monotonic() - budget_start > 0.02:
                await asyncio.sleep(0)
                budget_start = time.monotonic()
        if goal is not None and seek_started is not None:  # sought past the last line
            pb.last_seek_s = time.monotonic() - seek_started
            pb.goal_ms = None
        if self.live_from_ms is None:
            self.live_from_ms = last_t
        return None


@dataclass(frozen=True, slots=True)
class _Seek:
    """A seek the replay does aside: to `target`; `lines` the lines from the current one on
    (forward), or None (back: from the recording's start)."""

    target: int
    lines: Iterator[RecordLine] | None


class _CurrentSink:
    """The sink the replay delivers to now (a rebuild's fresh one, then the app's again)."""

    def __init__(self, replay: ReplaySource) -> None:
        self.replay = replay

    def feed(self, name: str) -> FeedHealth:
        return self.replay._current().feed(name)


def _mark_replaying(sink: EventSink, line: RecordLine) -> None:
    health = sink.feed(line.ex)
    if health.state not in ("replaying", "finished"):
        health.state = "replaying"


def _reached(anchor_wall: float, anchor_t: int, speed: float) -> int:
    """The recorded time a replay anchored at (anchor_wall, anchor_t) stands at now."""
    return anchor_t + int((time.monotonic() - anchor_wall) * 1000 * speed)


def _can_restart(sink: EventSink) -> bool:
    """The sink can start over (a seek back): the engine, the app's history sink."""
    return callable(getattr(sink, "start_over", None)) and callable(
        getattr(sink, "take_over", None)
    )


def recording_span(
    path: str | Path, stop: threading.Event | None = None
) -> tuple[int | None, int | None]:
    """The first and the last receive time of a recording's lines, read without parsing the
    messages (for the replay's progress bar); (None, None) when none is found. `stop` set:
    gives up (what it has read so far)."""
    first: int | None = None
    last: int | None = None
    try:
        with Path(path).open("rb") as fh:
            for raw, _kind in _raw_lines(fh, Path(path), ReadStats()):
                if stop is not None and stop.is_set():
                    break
                m = _LEADING_T.match(raw)
                if m is None:
                    continue
                t = int(m.group(1))
                if first is None:
                    first = t
                last = t if last is None else max(last, t)
    except OSError:
        pass
    return first, last


_LEADING_T = re.compile(rb'\s*\{\s*"t"\s*:\s*(\d{1,16})\s*[,}]')


def _feeds_of(sink: EventSink) -> list:
    feeds = getattr(sink, "feeds", None)
    return list(feeds.values()) if isinstance(feeds, dict) else []
