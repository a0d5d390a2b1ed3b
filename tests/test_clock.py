"""Timestamps far in the future (issue 11 item 7): one recording line or live message whose time
lies days ahead must neither move the clock nor empty (or hold) the realized window; it is
kept at the stream's clock (live: at its receive time) and counted, and shows in the
snapshot's feed health."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import pytest
from aiohttp import web
from support.loopback import Loopback, loopback_settings, read_frames, send_json, wait_until
from support.recordings import T0, envelope, force_order, line, mark_price, write_recording

from liqtui.cli import main
from liqtui.config import Endpoint
from liqtui.feeds.dispatch import MAX_CLOCK_LEAD_MS
from liqtui.feeds.live import LiveSource
from liqtui.feeds.recording import RecordLine
from liqtui.feeds.replay import ReplaySource, steady_clock
from liqtui.model.engine import Engine

DAY = 86_400_000


def prints(times: range, base: int = T0) -> list[str]:
    return [
        line(envelope(force_order(qty="0.5", avg_price=str(96_000 + i), t=base + i * 1000)),
             base + i * 1000 + 5)
        for i in times
    ]  # fmt: skip


def test_one_line_from_the_future_is_replayed_at_the_stream_clock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    future = line(envelope(force_order(qty="1", avg_price="95000", t=T0 + 5_000)), T0 + 3 * DAY)
    path = write_recording(
        tmp_path / "future.jsonl",
        [line(envelope(mark_price(t=T0)), T0 + 2), *prints(range(5)), future,
         *prints(range(5, 8))],
    )  # fmt: skip
    status = main(["snapshot", "--replay", str(path), "--symbol", "BTC", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["as_of"] == T0 + 7_005  # the clock of the stream, not 3 days later
    assert out["realized"]["count"] == 9  # the window holds every print, that one included
    expected = sum(0.5 * (96_000 + i) for i in range(8)) + 95_000
    assert out["realized"]["long_usd"] == pytest.approx(expected)
    (binance,) = [f for f in out["feeds"] if f["name"] == "binance"]
    assert binance["skipped"] == 0 and binance["retimed"] == 1
    assert "ahead of the recording's clock" in binance["last_error"]


def test_a_first_line_from_the_future_is_held_too(tmp_path: Path) -> None:
    future = line(envelope(force_order(t=T0)), T0 + 3 * DAY)
    path = write_recording(tmp_path / "first.jsonl", [future, *prints(range(3))])
    engine = Engine()
    ReplaySource(path, speed=None).run_sync(engine)
    assert engine.clock_ms == T0 + 2_005
    assert engine.snapshot("BTC").realized_count == 4
    assert engine.feeds["binance"].skipped == 0 and engine.feeds["binance"].retimed == 1


def test_a_new_capture_window_is_a_jump_the_next_lines_confirm(tmp_path: Path) -> None:
    later = T0 + 2 * DAY
    path = write_recording(
        tmp_path / "windows.jsonl", [*prints(range(3)), *prints(range(3), later)]
    )
    engine = Engine()
    ReplaySource(path, speed=None).run_sync(engine)
    assert engine.clock_ms == later + 2_005 and engine.feeds["binance"].skipped == 0
    assert engine.snapshot("BTC", window_ms=3_600_000).realized_count == 3


def test_steady_clock_holds_only_unconfirmed_jumps() -> None:
    def rec(t: int) -> RecordLine:
        return RecordLine(t=t, ex="binance", msg={}, rest=None)

    lead = MAX_CLOCK_LEAD_MS
    times = [0, 10, 10 + 3 * lead, 20, 30, 30 + 10 * lead, 30 + 10 * lead + 5, 40 + 10 * lead]
    held: list[tuple[int, int]] = []
    kept = [x.t for x in steady_clock([rec(t) for t in times], lambda x, c: held.append((x.t, c)))]
    assert kept == [0, 10, 10, 20, 30, 30 + 10 * lead, 30 + 10 * lead + 5, 40 + 10 * lead]
    assert held == [(10 + 3 * lead, 10)]
    # A last line from the future has nothing to confirm it: held at the clock.
    held.clear()
    assert [x.t for x in steady_clock([rec(0), rec(DAY)], lambda x, c: held.append((x.t, c)))] == [
        0,
        0,
    ]
    assert held == [(DAY, 0)]


async def test_a_live_message_from_the_future_is_kept_at_its_receive_time() -> None:
    now = int(time.time() * 1000)

    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        await send_json(ws, envelope(mark_price(price="96005.5", t=now), "btcusdt@markPrice@1s"))
        await send_json(ws, envelope(force_order(qty="0.5", avg_price="96000", t=now - 1_000)))
        # Three days ahead of the wall clock: a broken exchange clock; the print is still a print.
        await send_json(ws, envelope(force_order(qty="9", avg_price="90000", t=now + 3 * DAY)))
        await send_json(
            ws, envelope(mark_price(price="96007.5", t=now + 3 * DAY), "btcusdt@markPrice@1s")
        )
        await send_json(ws, envelope(force_order(qty="0.25", avg_price="96100", t=now)))
        await read_frames(ws, loop)

    async with Loopback() as loop:
        loop.ws("/market/stream", stream)
        loop.rest("/fapi/v1/openInterest", {"symbol": "BTCUSDT", "openInterest": "1", "time": now})
        book = {"lastUpdateId": 1, "E": now, "T": now, "bids": [["96000", "1"]],
                "asks": [["96010", "1"]]}  # fmt: skip
        loop.rest("/fapi/v1/depth", book)
        endpoint = Endpoint(f"{loop.ws_base}/market", loop.http)
        settings = loopback_settings({"binance": endpoint}, exchanges=["binance"])
        engine = Engine()
        task = asyncio.create_task(LiveSource(settings, ["BTC"]).run(engine))
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 3)
            await wait_until(lambda: engine.feeds["binance"].retimed == 2)
            snap = engine.snapshot("BTC")
            assert engine.feeds["binance"].skipped == 0
            assert snap.price == 96007.5 and snap.price_time_ms is not None
            assert snap.price_time_ms < now + 60_000  # at its receive time, not 3 days ahead
            assert snap.realized_long_usd == pytest.approx(
                0.5 * 96_000 + 9 * 90_000 + 0.25 * 96_100
            )
            assert "2 events retimed" in engine.feeds["binance"].remarks()
            assert engine.clock_ms < now + 60_000
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
