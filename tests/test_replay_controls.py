"""Replay controls in the TUI (`--replay`): pause stops the recorded time, the speed keys step
the speed, seeking ±1 minute and ±1 hour lands at that recorded time (back: rebuilt from the
recording's start), the end state says so, and the keys are offered only while replaying."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from support.recordings import T0
from support.tape_recording import SPAN_MS, tape_prints, write_tape_recording

from liqtui.feeds.replay import ReplaySource, recording_span
from liqtui.keys import REPLAY_ACTIONS
from liqtui.model.engine import Engine
from liqtui.playback import HOUR_MS, MINUTE_MS
from liqtui.ui.app import LiqApp

RECORDING_END = T0 + SPAN_MS


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_tape_recording(tmp_path_factory.mktemp("replay") / "two-hours.jsonl.gz")


def replay_app(path: Path, speed: float = 20.0, **kw: object) -> tuple[LiqApp, ReplaySource]:
    source = ReplaySource(path, speed=speed)
    source.playback.hold_at_end = True  # as the TUI makes it (liqtui.commands.common)
    kw.setdefault("watchlist", ["BTC", "ETH"])
    return LiqApp(Engine(), source, **kw), source  # type: ignore[arg-type]


async def until(pilot, ok: Callable[[], bool], timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not ok():
        assert loop.time() < deadline, "not reached within the timeout"
        await pilot.pause(0.02)


def test_recording_span_reads_the_first_and_last_times(recording: Path) -> None:
    assert recording_span(recording) == (T0, RECORDING_END)


async def test_pause_stops_the_recorded_time_and_resume_goes_on(recording: Path) -> None:
    app, source = replay_app(recording)
    pb = source.playback
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: pb.position_ms is not None and pb.end_ms is not None)
        await pilot.press("p")
        assert pb.paused
        await pilot.pause(0.1)
        held, clock = pb.position_ms, app.engine.clock_ms
        await pilot.pause(0.6)  # at 20× a line is due every 0.5 s: none may come
        assert (pb.position_ms, app.engine.clock_ms) == (held, clock)
        app.draw_replay_bar()
        assert "PAUSED" in app.replay_bar.lines_text[0]
        await pilot.press("p")
        assert not pb.paused
        await until(pilot, lambda: (pb.position_ms or 0) > (held or 0))


async def test_speed_keys_step_the_speed(recording: Path) -> None:
    app, source = replay_app(recording)
    pb = source.playback
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("right_curly_bracket")
        assert pb.speed == 50
        await pilot.press("left_curly_bracket", "left_curly_bracket")
        assert pb.speed == 10
        app.draw_replay_bar()
        assert "10×" in app.replay_bar.lines_text[0]


async def test_seek_lands_at_the_recorded_time_forward_and_back(recording: Path) -> None:
    app, source = replay_app(recording, view="tape")
    pb = source.playback
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: pb.position_ms is not None and pb.end_ms is not None)
        await pilot.press("p")  # paused: each seek stands exactly where it landed
        await pilot.pause(0.05)
        start = pb.position_ms
        assert start is not None

        async def seek(key: str, delta: int, expected: int) -> None:
            await pilot.press(key)
            await until(pilot, lambda: pb.position_ms == expected and not pb.seeking)
            assert app.engine.clock_ms == expected, key  # the model stands there too
            app.refresh_now()
            # the newest print is the last one received by then (its own time is 5 ms earlier)
            newest = max((t for t, *_ in tape_prints() if t <= expected), default=None)
            data = app.tape.data
            assert data is not None
            if newest is None:
                assert not data.prints
            else:
                assert data.prints[0].time_ms == newest - 5

        await seek("shift+right", HOUR_MS, start + HOUR_MS)
        await seek("full_stop", MINUTE_MS, start + HOUR_MS + MINUTE_MS)
        await seek("comma", -MINUTE_MS, start + HOUR_MS)
        assert pb.rebuilds == 1  # back: rebuilt from the start
        await seek("shift+left", -HOUR_MS, start)
        assert pb.rebuilds == 2 and pb.last_seek_s is not None
        # nothing before the start: a seek back from there stays at the recording's start
        await pilot.press("shift+left")
        await until(pilot, lambda: pb.position_ms == T0 and not pb.seeking)


async def test_the_end_is_a_clear_state_and_a_seek_back_replays_again(recording: Path) -> None:
    app, source = replay_app(recording, speed=1000.0)
    pb = source.playback
    async with app.run_test(size=(100, 24)) as pilot:
        await until(pilot, lambda: pb.position_ms is not None and pb.end_ms is not None)
        await pilot.press("shift+right", "shift+right", "shift+right")
        await until(pilot, lambda: pb.finished)
        app.draw_replay_bar()
        bar = app.replay_bar.lines_text[0]
        assert "FINISHED" in bar and "replay finished at 2025-01-27 19:46:40 UTC" in bar
        assert {h.state for h in app.engine.feeds.values()} == {"finished"}
        assert pb.progress == 1.0
        await pilot.press("shift+left")  # still alive at the end: back an hour, playing on
        await until(pilot, lambda: not pb.finished and pb.position_ms is not None)
        await until(pilot, lambda: not pb.seeking)
        assert RECORDING_END - HOUR_MS <= (pb.position_ms or 0) < RECORDING_END
        assert app.is_running and not app._ui_errors


async def test_replay_keys_are_offered_only_while_replaying(recording: Path) -> None:
    app = LiqApp(Engine(), None, watchlist=["BTC"])
    async with app.run_test(size=(80, 24)) as pilot:
        assert not any(app.offered_in_view(a) for a in REPLAY_ACTIONS)
        assert not app.replay_bar.display
        await pilot.press("p", "shift+right", "comma")  # nothing happens, nothing breaks
        assert app.is_running and not app._ui_errors
    app, _source = replay_app(recording)
    async with app.run_test(size=(80, 24)):
        assert all(app.offered_in_view(a) for a in REPLAY_ACTIONS)
        assert app.replay_bar.display


class PlainSink:
    """An EventSink that can neither start over nor copy its state."""

    def __init__(self) -> None:
        self.engine = Engine()

    def apply(self, event):  # type: ignore[no-untyped-def]
        return self.engine.apply(event)

    def advance(self, now_ms: int) -> None:
        self.engine.advance(now_ms)

    def feed(self, name: str):  # type: ignore[no-untyped-def]
        return self.engine.feed(name)


async def test_a_plain_sink_seeks_forward_in_the_loop_and_never_back(recording: Path) -> None:
    source = ReplaySource(recording, speed=1.0)  # real time: two hours unless sought
    sink = PlainSink()
    pb = source.playback
    task = asyncio.create_task(source.run(sink))
    try:
        while pb.position_ms is None or pb.end_ms is None:
            await asyncio.sleep(0.01)
        start = pb.position_ms
        pb.paused = True
        assert pb.seek(HOUR_MS) == start + HOUR_MS
        pb.wake()
        while pb.position_ms != start + HOUR_MS or pb.seeking:
            await asyncio.sleep(0.01)
        assert sink.engine.clock_ms == start + HOUR_MS
        pb.seek(-MINUTE_MS)  # no way back for this sink: ignored
        pb.wake()
        await asyncio.sleep(0.2)
        assert pb.position_ms == start + HOUR_MS and pb.rebuilds == 0
        pb.paused = False
        pb.seek(2 * HOUR_MS)  # past the end: it finishes
        await asyncio.wait_for(task, 20)
        assert source.finished and pb.finished
    finally:
        task.cancel()


async def test_after_a_seek_back_the_feeds_say_replaying(recording: Path) -> None:
    app, source = replay_app(recording)
    pb = source.playback
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: pb.position_ms is not None and pb.end_ms is not None)
        await pilot.press("p", "shift+right")
        await until(pilot, lambda: not pb.seeking and pb.seek_target_ms is None)
        await pilot.press("comma")
        await until(pilot, lambda: pb.rebuilds == 1 and not pb.seeking)
        assert {h.state for h in app.engine.feeds.values() if h.name == "binance"} == {"replaying"}


class _Collect:
    """A sink that keeps the events a source delivers (for a history to apply)."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.events: list = []  # type: ignore[type-arg]

    def apply(self, event):  # type: ignore[no-untyped-def]
        self.events.append(event)
        return self.engine.apply(event)

    def advance(self, now_ms: int) -> None:
        self.engine.advance(now_ms)

    def feed(self, name: str):  # type: ignore[no-untyped-def]
        return self.engine.feed(name)


async def test_a_recordings_history_is_built_aside_while_the_loop_runs() -> None:
    """A cold-start recording's backfill answers (days of history) are applied in a worker
    thread into a fresh engine and taken over in one step: the app keeps drawing and answering
    keys meanwhile (a quit does not wait for the build), and the map is the one a direct apply
    builds."""
    from liqtui.demo import DemoSource

    collected = _Collect()
    DemoSource(["BTC"], seed=2, warmup_ms=4 * HOUR_MS, start_ms=T0).run_sync(collected)
    history = [e for e in collected.events if e.time_ms <= collected.engine.clock_ms]
    assert len(history) > 5_000
    source = ReplaySource(Path("unused.jsonl"), speed=1.0)
    source._history = history
    engine = Engine()
    ticks = 0
    seen_loading = False

    async def tick() -> None:
        nonlocal ticks, seen_loading
        while True:
            ticks += 1
            seen_loading |= source.playback.loading_history
            await asyncio.sleep(0.001)

    ticker = asyncio.create_task(tick())
    try:
        await source._apply_history(engine)
    finally:
        ticker.cancel()
    assert seen_loading and not source.playback.loading_history
    assert ticks > 5  # the loop ran while the history was applied
    direct = Engine()
    for event in history:
        direct.advance(event.time_ms)
        direct.apply(event)
    assert engine.clock_ms == direct.clock_ms
    ours, theirs = engine.snapshot("BTC"), direct.snapshot("BTC")
    assert ours.estimated_long.tobytes() == theirs.estimated_long.tobytes()
    assert ours.estimated_short.tobytes() == theirs.estimated_short.tobytes()
    assert ours.realized_long_usd == theirs.realized_long_usd > 0
    # cancelled (the app quitting): the worker stops within a few thousand events
    again = ReplaySource(Path("unused.jsonl"), speed=1.0)
    again._history = history
    task = asyncio.create_task(again._apply_history(Engine()))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
