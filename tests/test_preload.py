"""The live start's history (liqtui.feeds.preload): the local store first, then the backfill of
the gap, built the way a replay builds it, beside live data that is never held back; every live
event written to the store. The backfill is the test double in support/fake_backfill.py (the
same interface as liqtui.feeds.backfill.Backfill); the CLI tests run `liqtui snapshot` against
the loopback exchanges (support/fake_exchanges.py) with a store in a temporary
$XDG_STATE_HOME."""

from __future__ import annotations

import asyncio
import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import closing
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support.fake_backfill import DAY_MS, MINUTE_MS, FakeBackfill, all_events
from support.fake_exchanges import FakeExchanges
from support.loopback import loopback_settings, stop, wait_until

from liqtui.config import Settings
from liqtui.events import Liquidation, MarketEvent, MarkPrice, OpenInterest
from liqtui.feeds.live import LiveSource
from liqtui.feeds.preload import HistoryOptions, Preloader, find_gaps, replay_into
from liqtui.health import history_progress
from liqtui.model.engine import Engine
from liqtui.store import STORE_FILE, open_store

REPO = Path(__file__).resolve().parent.parent
T = 1_767_225_600_000 + 10 * DAY_MS  # "now" of the unit tests (a whole minute)
HOUR_MS = 3_600_000


def _options(store_dir: Path | None, fake: FakeBackfill | None, **kw: int) -> HistoryOptions:
    return HistoryOptions(
        store_dir=store_dir,
        backfill_ms=kw.get("backfill_ms", DAY_MS),
        retention_ms=kw.get("retention_ms", 3650 * DAY_MS),  # T is long ago: no prune
        window_ms=kw.get("window_ms", DAY_MS),
        make_backfill=fake.factory() if fake is not None else None,
    )


def _preloader(options: HistoryOptions, now_ms: int = T) -> tuple[Preloader, list[str]]:
    warnings: list[str] = []
    pre = Preloader(Settings(), options, warn=warnings.append, now_ms=lambda: now_ms)
    return pre, warnings


def _same_map(a: Engine, b: Engine, symbol: str = "BTC") -> None:
    sa, sb = a.snapshot(symbol), b.snapshot(symbol)
    assert sa.has_estimate
    np.testing.assert_allclose(sa.estimated_long, sb.estimated_long, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(sa.estimated_short, sb.estimated_short, rtol=1e-9, atol=1e-6)
    assert sa.open_interest == pytest.approx(sb.open_interest)
    assert sa.realized_count == sb.realized_count


def test_find_gaps() -> None:
    m = MINUTE_MS
    assert find_gaps([], 0, 60 * m) == [(0, 60 * m)]
    assert find_gaps(list(range(0, 60 * m, m)), 0, 60 * m) == []  # all there
    stored = [i * m for i in range(10)] + [i * m for i in range(40, 50)]
    assert find_gaps(stored, 0, 120 * m) == [(10 * m, 40 * m), (50 * m, 120 * m)]
    assert find_gaps(stored, 0, 55 * m) == [(10 * m, 40 * m)]  # 5 at the end: live covers them
    many = [i * 30 * m for i in range(20)]  # a gap every 30 minutes: one span over them
    assert find_gaps(many, 0, 600 * m) == [(m, 600 * m)]


async def test_cold_start_builds_the_map_a_replay_of_the_same_data_builds(tmp_path: Path) -> None:
    available = {"binance": 30 * DAY_MS, "bybit": DAY_MS // 2, "hyperliquid": None}
    fake = FakeBackfill(available=available)
    pre, warnings = _preloader(_options(tmp_path, fake))
    pre.exchanges = ["binance", "bybit", "hyperliquid"]
    engine = Engine()
    await pre.start(engine, None, {}, ["BTC"])  # type: ignore[arg-type]
    await asyncio.wait_for(pre.wait_idle(), 10)
    assert warnings == []
    # Binance for the whole day, Bybit as far back as it keeps OI, Hyperliquid not asked.
    assert sorted(c[0] for c in fake.calls) == ["binance", "bybit"]
    spans = {c[0]: (c[2], c[3]) for c in fake.calls}
    assert spans["binance"] == (T - DAY_MS, T)
    assert spans["bybit"] == (T - DAY_MS // 2, T)
    replayed = Engine()
    replay_into(replayed, [all_events(fake, fake.calls)], [])
    for e in (engine, replayed):
        e.advance(T + 1)
    _same_map(engine, replayed)
    assert set(engine.snapshot("BTC").estimated_by_exchange) == {"binance", "bybit"}
    feeds = engine.feeds
    assert feeds["binance"].history == "done" and feeds["binance"].history_progress == 1.0
    assert feeds["hyperliquid"].history == "store"
    assert "store only" in feeds["hyperliquid"].remarks()
    assert history_progress(list(feeds.values())) is None  # nothing loads any more
    await pre.stop()
    with closing(open_store(tmp_path)) as store:  # the backfilled rows were written to the store
        info = {(m.exchange, m.symbol): m.minutes for m in store.info().markets}
    assert info[("binance", "BTC")] == 24 * 60
    assert info[("bybit", "BTC")] == 12 * 60


async def test_live_events_while_history_loads_are_applied_after_it(tmp_path: Path) -> None:
    gate = asyncio.Event()
    fake = FakeBackfill(gate=gate)
    pre, _ = _preloader(_options(tmp_path, fake))
    pre.exchanges = ["binance", "okx"]
    engine = Engine()
    sink = await pre.start(engine, None, {}, ["BTC"])  # type: ignore[arg-type]
    await wait_until(lambda: len(fake.calls) == 2)
    progress = history_progress(list(engine.feeds.values()))
    assert progress is not None and progress.startswith("history BTC 0/2 exchanges")
    live = []
    for s in range(1, 200, 3):  # live data of BTC (loading) and ETH (not loading)
        t = T + s * 1000
        for ev in (
            MarkPrice("binance", "BTC", t, 97_100.0 + s, 0.0001),
            OpenInterest("binance", "BTC", t, 530.0 + s / 10),
            MarkPrice("binance", "ETH", t, 3_400.0, None),
        ):
            sink.advance(t)
            sink.apply(ev)
            live.append((t, ev))
    # Live data is not held back: both markets show it at once.
    assert engine.snapshot("BTC").price == pytest.approx(97_100.0 + 199)
    assert engine.snapshot("ETH").price == 3_400.0
    gate.set()
    await asyncio.wait_for(pre.wait_idle(), 10)
    replayed = Engine()
    btc_live = [(t, ev) for t, ev in live if ev.symbol == "BTC"]
    replay_into(replayed, [all_events(fake, fake.calls)], btc_live)
    for e in (engine, replayed):
        e.advance(T + 300_000)
    _same_map(engine, replayed)
    assert engine.snapshot("ETH").price == 3_400.0  # untouched by BTC's history
    await pre.stop()


async def test_a_failed_or_partial_backfill_shows_per_exchange(tmp_path: Path) -> None:
    fake = FakeBackfill(fail={"okx": "HTTP 429: too many requests"}, partial={"bybit": "timeout"})
    pre, _ = _preloader(_options(tmp_path, fake))
    pre.exchanges = ["binance", "bybit", "okx"]
    engine = Engine()
    await pre.start(engine, None, {}, ["BTC"])  # type: ignore[arg-type]
    await asyncio.wait_for(pre.wait_idle(), 10)
    feeds = engine.feeds
    assert feeds["binance"].history == "done"
    assert feeds["bybit"].history == "partial" and "timeout" in feeds["bybit"].remarks()
    assert feeds["okx"].history == "failed"
    assert "history failed: HTTP 429" in feeds["okx"].remarks()
    assert set(engine.snapshot("BTC").estimated_by_exchange) == {"binance", "bybit"}
    await pre.stop()


async def test_restart_keeps_prints_and_map_and_fills_the_gap(tmp_path: Path) -> None:
    first = FakeBackfill(print_every=30)
    pre, _ = _preloader(_options(tmp_path, first))
    pre.exchanges = ["binance", "okx"]
    engine = Engine()
    sink = await pre.start(engine, None, {}, ["BTC"])  # type: ignore[arg-type]
    await asyncio.wait_for(pre.wait_idle(), 10)
    t = T + 5_000
    sink.advance(t)
    sink.apply(Liquidation("binance", "BTC", t, "long", 96_500.0, 2.0, 193_000.0))  # live
    assert engine.snapshot("BTC").realized_count > 0 and engine.snapshot("BTC").has_estimate
    await pre.stop()  # the run ends: everything is in the store
    later = T + 3 * HOUR_MS
    engine.advance(later)  # what the first run would show three hours later
    before = engine.snapshot("BTC")

    # Three hours later, without any REST history: the store alone gives R and E.
    pre, _ = _preloader(_options(tmp_path, None), now_ms=later)
    pre.exchanges = ["binance", "okx"]
    engine = Engine()
    await pre.start(engine, None, {}, ["BTC"])  # type: ignore[arg-type]
    await asyncio.wait_for(pre.wait_idle(), 10)
    engine.advance(later)
    after = engine.snapshot("BTC")
    assert after.realized_count == before.realized_count > 0  # the live print too
    assert after.realized_long_usd == pytest.approx(before.realized_long_usd)
    assert set(after.estimated_by_exchange) == {"binance", "okx"}
    await pre.stop()

    # With the backfill: only the three hours the store lacks are asked for.
    gap = FakeBackfill()
    pre, _ = _preloader(_options(tmp_path, gap), now_ms=later)
    pre.exchanges = ["binance", "okx"]
    engine = Engine()
    await pre.start(engine, None, {}, ["BTC"])  # type: ignore[arg-type]
    await asyncio.wait_for(pre.wait_idle(), 10)
    assert sorted(gap.calls) == [
        ("binance", "BTC", T, later),  # from the end of the last stored minute
        ("okx", "BTC", T, later),
    ]
    await pre.stop()


async def test_a_restart_in_the_same_minute_keeps_that_minutes_prints(tmp_path: Path) -> None:
    """A print of the minute in progress, stored by the run that just ended: the next run
    (still in that minute) shows it, as no exchange sends it again."""
    t = T + 20_000  # 20 s into a minute
    pre, _ = _preloader(_options(tmp_path, None), now_ms=t)
    pre.exchanges = ["binance"]
    engine = Engine()
    sink = await pre.start(engine, None, {}, ["BTC"])  # type: ignore[arg-type]
    await asyncio.wait_for(pre.wait_idle(), 10)
    sink.advance(t)
    sink.apply(Liquidation("binance", "BTC", t, "long", 96_500.0, 2.0, 193_000.0))
    await pre.stop()

    pre, _ = _preloader(_options(tmp_path, None), now_ms=t + 10_000)  # same minute
    pre.exchanges = ["binance"]
    engine = Engine()
    sink = await pre.start(engine, None, {}, ["BTC"])  # type: ignore[arg-type]
    await asyncio.wait_for(pre.wait_idle(), 10)
    engine.advance(t + 10_000)
    assert engine.snapshot("BTC").realized_count == 1
    sink.apply(Liquidation("binance", "BTC", t, "long", 96_500.0, 2.0, 193_000.0))  # again
    assert engine.snapshot("BTC").realized_count == 1  # the engine drops a print it holds
    await pre.stop()


async def test_a_market_added_later_gets_its_history(tmp_path: Path) -> None:
    fake = FakeBackfill()
    pre, _ = _preloader(_options(tmp_path, fake))
    pre.exchanges = ["binance"]
    engine = Engine()
    sink = await pre.start(engine, None, {}, ["BTC"])  # type: ignore[arg-type]
    await asyncio.wait_for(pre.wait_idle(), 10)
    sink.advance(T + 1_000)  # live data moved the clock on
    pre.watch("ETH")  # the user picked ETH
    assert not pre.idle
    await asyncio.wait_for(pre.wait_idle(), 10)
    assert [c[1] for c in fake.calls] == ["BTC", "ETH"]
    replayed = Engine()
    replay_into(replayed, [all_events(fake, fake.calls[1:])], [])
    for e in (engine, replayed):
        e.advance(T + 2_000)
    _same_map(engine, replayed, "ETH")
    pre.watch("ETH")  # once per run
    assert pre.idle and len(fake.calls) == 2
    await pre.stop()


async def test_no_store_and_no_backfill(tmp_path: Path) -> None:
    """backfill "0s" and no store folder: nothing loads, live events still pass."""
    options = HistoryOptions.from_settings(_settings_0s(), None)
    assert options.backfill_ms == 0 and options.span_ms == DAY_MS
    pre, _ = _preloader(options)
    engine = Engine()
    sink = await pre.start(engine, None, {}, ["BTC"])  # type: ignore[arg-type]
    await asyncio.wait_for(pre.wait_idle(), 10)
    sink.advance(T)
    sink.apply(MarkPrice("binance", "BTC", T, 97_000.0, None))
    assert engine.snapshot("BTC").price == 97_000.0
    await pre.stop()


def _settings_0s() -> Settings:
    import msgspec

    base = Settings()
    return msgspec.structs.replace(base, feeds=msgspec.structs.replace(base.feeds, backfill="0s"))


# -- live source, loopback exchanges -------------------------------------------------------------
async def test_cold_start_against_loopback_shows_e_at_once(tmp_path: Path) -> None:
    async with FakeExchanges(["BTC"], seed=1, speed=1.0, history_ms=2 * MINUTE_MS) as fake:
        assert fake.sim is not None
        price = fake.sim.price("BTC")
        backfill = FakeBackfill(prices={"BTC": price}, available={"binance": DAY_MS, "okx": DAY_MS})
        settings = loopback_settings(fake.endpoints())
        options = _options(tmp_path, backfill, backfill_ms=DAY_MS)
        source = LiveSource(settings, ["BTC"], history=options)
        engine = Engine()
        task = asyncio.create_task(source.run(engine))
        try:
            await wait_until(lambda: source.history_ready and len(backfill.calls) == 2, 15)
            snap = engine.snapshot("BTC")
            # A day of backfilled history is in: binance and okx have E already.
            assert {"binance", "okx"} <= set(snap.estimated_by_exchange)
            assert engine.events_by_market["BTC"] > 3 * 24 * 60
            assert engine.feeds["hyperliquid"].history == "store"
            assert engine.feeds["binance"].history == "done"
            await wait_until(lambda: engine.feeds["hyperliquid"].last_event_ms is not None, 15)
        finally:
            await stop(task)
    with closing(open_store(tmp_path)) as store:  # live events and backfilled rows were written
        markets = {(m.exchange, m.symbol): m for m in store.info().markets}
    assert markets[("binance", "BTC")].minutes >= 24 * 60 - 1
    assert markets[("hyperliquid", "BTC")].minutes >= 1  # live only


async def test_a_live_snapshot_waits_until_the_slowest_backfill_is_in_the_engine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 15: a cold `liqtui snapshot` waits (within --wait) until every exchange's history
    is applied, not only received. OKX answers long after the others, and building the map
    with its answer takes a while: the wait must not end when OKX's answer arrives (its health
    said "done" then, while the build was still running) but when the build is adopted."""
    from liqtui.commands import snapshot as snapshot_command
    from liqtui.feeds import preload

    building_okx: list[float] = []

    def slow_replay(sink: Any, pieces: Any, live: Any) -> None:
        pieces = list(pieces)
        if any(piece and piece[0].exchange == "okx" for piece in pieces):
            building_okx.append(time.monotonic())
            time.sleep(1.0)  # a long history takes a while to build
        replay_into(sink, pieces, live)

    monkeypatch.setattr(preload, "replay_into", slow_replay)
    async with FakeExchanges(["BTC"], seed=1, speed=1.0, history_ms=2 * MINUTE_MS) as fake:
        assert fake.sim is not None
        backfill = FakeBackfill(
            prices={"BTC": fake.sim.price("BTC")},
            available={"binance": DAY_MS, "bybit": DAY_MS, "okx": DAY_MS},
            delays={"okx": 3.0},
        )
        exchanges = ["binance", "bybit", "okx"]
        settings = loopback_settings(fake.endpoints(), exchanges=exchanges)
        options = _options(tmp_path, backfill, backfill_ms=HOUR_MS)
        source = LiveSource(settings, ["BTC"], history=options)
        assert not source.history_ready  # nothing asked for yet is not "in"
        engine = Engine()
        loading = await snapshot_command._collect_live(source, engine, ["BTC"], exchanges, 30)
    assert not loading and building_okx
    # What the first record shows: every exchange's history, OKX's too.
    assert set(engine.snapshot("BTC").estimated_by_exchange) == set(exchanges)
    assert engine.feeds["okx"].history == "done"


async def test_the_app_shows_history_progress_then_the_backfilled_map(tmp_path: Path) -> None:
    """The TUI's sink (the UI history in front of the engine) forks and adopts too; the status
    line shows the progress while the backfill is held back, then the map."""
    from liqtui.ui.app import LiqApp

    async with FakeExchanges(["BTC"], seed=1, speed=1.0, history_ms=2 * MINUTE_MS) as fake:
        assert fake.sim is not None
        gate = asyncio.Event()
        backfill = FakeBackfill(
            prices={"BTC": fake.sim.price("BTC")},
            available={"binance": DAY_MS, "hyperliquid": None},
            gate=gate,
        )
        settings = loopback_settings(fake.endpoints(), exchanges=["binance", "hyperliquid"])
        source = LiveSource(settings, ["BTC"], history=_options(tmp_path, backfill))
        engine = Engine()
        app = LiqApp(engine, source, watchlist=["BTC"])
        async with app.run_test(size=(160, 40)) as pilot:

            def shown() -> str:
                return "\n".join(app.status.lines_text)

            for _ in range(100):
                if "history BTC 1/2 exchanges" in shown():
                    break
                await pilot.pause(0.1)
            assert "history BTC 1/2 exchanges" in shown(), shown()
            gate.set()
            for _ in range(100):
                if source.history_ready and "history BTC" not in shown():
                    break
                await pilot.pause(0.1)
            assert source.history_ready and "history BTC" not in shown(), shown()
            assert "binance" in engine.snapshot("BTC").estimated_by_exchange
            assert engine.events_by_market["BTC"] > 3 * 24 * 60  # a day of history


async def test_a_recording_made_at_a_cold_start_replays_to_the_backfilled_map(
    tmp_path: Path,
) -> None:
    """The real backfill against the fake exchanges' history endpoints, recorded: the replay
    applies the recorded answers as history first (liqtui.feeds.replay.apply_history), so it
    builds the map the live start built from the same answers."""
    from liqtui.feeds.backfill import BackfillResult
    from liqtui.feeds.preload import default_backfill
    from liqtui.feeds.recording import Recorder
    from liqtui.feeds.replay import ReplaySource, history_events

    fetched: list[MarketEvent] = []

    def capturing(*args: Any, **kw: Any) -> Any:
        real = default_backfill(*args, **kw)

        class Capture:
            def available_ms(self, exchange: str) -> int | None:
                return real.available_ms(exchange)

            async def fetch(self, *a: Any, **k: Any) -> BackfillResult:
                result = await real.fetch(*a, **k)
                fetched.extend(result.events)
                return result  # type: ignore[return-value]

        return Capture()

    path = tmp_path / "cold.jsonl"
    async with FakeExchanges(["BTC"], seed=5, speed=1.0, history_ms=2 * MINUTE_MS) as fake:
        settings = loopback_settings(fake.endpoints(), exchanges=["binance", "bybit"])
        options = HistoryOptions(tmp_path / "store", DAY_MS, 30 * DAY_MS, DAY_MS, capturing)
        recorder = Recorder(path)
        source = LiveSource(settings, ["BTC"], recorder=recorder, history=options)
        live = Engine()
        task = asyncio.create_task(source.run(live))
        try:
            await wait_until(lambda: source.history_ready and bool(fetched), 60)
            assert live.feeds["binance"].history == "done", live.feeds["binance"].history_note
        finally:
            await stop(task)
            recorder.close()
    recorded = history_events(path)
    assert len(recorded) > 24 * 60  # a day of history: 1m klines, 5m open interest

    def key(ev: MarketEvent) -> tuple[int, str, str]:
        return ev.time_ms, ev.exchange, repr(ev)

    assert sorted(recorded, key=key) == sorted(fetched, key=key)
    from_backfill = Engine()
    replay_into(from_backfill, [fetched], [])
    replayed = Engine()
    ReplaySource(path, speed=None).run_sync(replayed)
    assert replayed.events_by_market["BTC"] > len(recorded)  # the history, then the live lines
    assert {"binance", "bybit"} <= set(from_backfill.snapshot("BTC").estimated_by_exchange)
    assert {"binance", "bybit"} <= set(replayed.snapshot("BTC").estimated_by_exchange)
    for ex in ("binance", "bybit"):  # the live lines' counts: the answers are not messages
        assert replayed.feeds[ex].messages == live.feeds[ex].messages, ex


async def _snapshot(config: Path, *extra: str, env: dict[str, str] | None = None) -> tuple:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "liqtui", "snapshot", "--config", str(config),
        "--symbol", "BTC", "--format", "json", "--wait", "10", *extra,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
        env=env,
    )  # fmt: skip
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    return proc.returncode, out.decode(), err.decode()


async def test_cli_restart_keeps_realized_prints(tmp_path: Path) -> None:
    """`liqtui snapshot` twice with one store: the second run's exchange sends no prints, yet
    the first run's prints (and its estimate) are there."""
    state = Path(os.environ["XDG_STATE_HOME"])
    async with FakeExchanges(["BTC"], seed=2, speed=1.0) as fake:
        config = fake.write_config(tmp_path / "fake.toml", feeds={"backfill": "0s"})
        code, out, err = await _snapshot(config)
        assert code == 0, err
        first = json.loads(out)
        assert first["realized"]["count"] > 0
        # The second run hears only Hyperliquid (no public liquidation feed).
        only_hl: dict[str, Any] = {"backfill": "0s", "exchanges": ["hyperliquid"]}
        config = fake.write_config(tmp_path / "hl.toml", feeds=only_hl)
        code, out, err = await _snapshot(config)
    assert code == 0, err
    assert "Traceback" not in err
    second = json.loads(out)
    assert second["realized"]["count"] >= first["realized"]["count"]
    assert set(second["realized"]["by_exchange"]) == set(first["realized"]["by_exchange"])
    # E of exchanges the second run did not hear: built from the first run's stored minutes
    # (the fake's 10-minute backlog of open interest; Binance's comes by a slower REST poll).
    assert {"bybit", "okx"} <= set(second["estimated"]["by_exchange"])
    assert (state / "liqtui" / STORE_FILE).is_file()


async def test_cli_two_processes_share_a_store_and_a_corrupt_one_is_rebuilt(
    tmp_path: Path,
) -> None:
    store = Path(os.environ["XDG_STATE_HOME"]) / "liqtui" / STORE_FILE
    store.parent.mkdir(parents=True)
    store.write_bytes(b"this is not a database" * 100)
    async with FakeExchanges(["BTC"], seed=3, speed=1.0) as fake:
        config = fake.write_config(tmp_path / "fake.toml", feeds={"backfill": "0s"})
        (a, out_a, err_a), (b, out_b, err_b) = await asyncio.gather(
            _snapshot(config), _snapshot(config)
        )
    assert (a, b) == (0, 0), err_a + err_b
    for err in (err_a, err_b):
        assert "Traceback" not in err
    warnings = [line for line in (err_a + err_b).splitlines() if "warning: store" in line]
    assert len(warnings) == 1 and "moved aside" in warnings[0], err_a + err_b
    assert list(store.parent.glob(f"{STORE_FILE}.bad-*"))
    conn = sqlite3.connect(store)
    try:
        assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        prints = conn.execute("SELECT count(*) FROM prints").fetchone()[0]
    finally:
        conn.close()
    counts = [json.loads(out)["realized"]["count"] for out in (out_a, out_b)]
    assert prints > 0  # both wrote; each print once (its key is the primary key)
    assert prints <= sum(counts)


async def test_cli_kill_9_during_backfill_leaves_a_consistent_store(tmp_path: Path) -> None:
    """SIGKILL while `liqtui snapshot` is backfilling (the real backfill against the fake
    exchanges' history endpoints): the store reopens clean, keeps what was committed, and the
    next run completes the history and prints a map."""
    import signal

    store = Path(os.environ["XDG_STATE_HOME"]) / "liqtui" / STORE_FILE

    def minute_rows() -> int:
        if not store.is_file():
            return 0
        try:
            with closing(sqlite3.connect(store, timeout=1)) as conn:
                return int(conn.execute("SELECT count(*) FROM minutes").fetchone()[0])
        except sqlite3.Error:
            return 0

    async with FakeExchanges(["BTC"], seed=5, speed=1.0) as fake:
        config = fake.write_config(tmp_path / "fake.toml", feeds={"backfill": "2d"})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "liqtui", "snapshot", "--config", str(config),
            "--symbol", "BTC", "--format", "json", "--wait", "60",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
        try:  # killed once some history is committed, before all of it (OKX's budget is slow)
            await wait_until(lambda: minute_rows() > 0 or proc.returncode is not None, 30)
            assert proc.returncode is None, "the snapshot ended before it could be killed"
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
        with closing(sqlite3.connect(store)) as conn:
            assert conn.execute("PRAGMA quick_check").fetchone()[0] == "ok"
            kept = conn.execute("SELECT count(*) FROM minutes").fetchone()[0]
        assert kept > 0
        code, out, err = await _snapshot(config, "--wait", "60")
    assert code == 0, err
    assert "Traceback" not in err and "warning: store" not in err, err
    record = json.loads(out)
    assert {"binance", "bybit", "okx"} <= set(record["estimated"]["by_exchange"])
    assert minute_rows() >= kept


async def test_an_offline_restart_prints_all_the_stored_history_at_once(tmp_path: Path) -> None:
    """Every exchange unreachable on the second run: the first record already holds the whole
    stored history (the store is local: it is waited for), so no later record differs."""
    async with FakeExchanges(["BTC"], seed=6, speed=1.0) as fake:
        config = fake.write_config(tmp_path / "fake.toml", feeds={"backfill": "2d"})
        code, out, err = await _snapshot(config, "--wait", "60")
        assert code == 0, err
    code, out, err = await _snapshot(config, "--wait", "20", "--every", "2s", "--count", "3")
    assert "Traceback" not in err
    records = [json.loads(line) for line in out.splitlines()]
    assert len(records) == 3, err
    estimated = [r["estimated"]["by_exchange"] for r in records]
    assert {"binance", "bybit", "okx"} <= set(estimated[0])
    assert estimated[0] == estimated[-1]
    assert records[0]["realized"]["count"] == records[-1]["realized"]["count"] > 0


async def test_cli_every_writes_the_store_until_sigterm(tmp_path: Path) -> None:
    import signal

    store = Path(os.environ["XDG_STATE_HOME"]) / "liqtui" / STORE_FILE
    async with FakeExchanges(["BTC"], seed=4, speed=1.0) as fake:
        config = fake.write_config(tmp_path / "fake.toml", feeds={"backfill": "0s"})
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "liqtui", "snapshot", "--config", str(config),
            "--symbol", "BTC", "--format", "json", "--wait", "10", "--every", "1s",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO,
        )  # fmt: skip
        assert proc.stdout is not None
        first = json.loads(await asyncio.wait_for(proc.stdout.readline(), 30))
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()
    assert first["realized"]["count"] > 0
    conn = sqlite3.connect(store)
    try:
        prints = conn.execute("SELECT count(*) FROM prints").fetchone()[0]
    finally:
        conn.close()
    assert prints >= first["realized"]["count"]  # flushed on the way out


def test_replay_and_demo_leave_the_store_alone(
    recording: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from liqtui.cli import main

    state = Path(os.environ["XDG_STATE_HOME"])
    assert main(["snapshot", "--demo", "--symbol", "BTC", "--format", "json"]) == 0
    replay = ["snapshot", "--replay", str(recording(30)), "--symbol", "BTC", "--format", "json"]
    assert main(replay) == 0
    capsys.readouterr()
    assert not (state / "liqtui").exists()


def test_store_import_takes_a_recording_in_when_asked(
    recording: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from liqtui.cli import main

    path = recording(120)
    assert main(["store", "import", str(path)]) == 0
    first = capsys.readouterr().out
    assert "imported" in first and "(36 prints; 0 already stored)" in first, first
    assert main(["store", "info", "--format", "json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["symbols"] == ["BTC", "ETH"] and info["print_rows"] == 36
    assert info["minute_rows"] == 2 * 2  # two markets, two minutes
    assert main(["store", "import", str(path)]) == 0  # again: nothing counted twice
    assert "36 already stored" in capsys.readouterr().out
    assert main(["store", "info", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["print_rows"] == 36
    assert main(["store", "import", str(path.parent / "missing.jsonl")]) == 1
    assert "no such recording" in capsys.readouterr().err


# -- warm start: store present, three markets --------------------------------------------------
def _fill_store(store_dir: Path, symbols: list[str], days: int, now_ms: int) -> None:
    backfill = FakeBackfill(print_every=20)
    with closing(open_store(store_dir)) as store:
        for symbol in symbols:
            for exchange in ("binance", "bybit", "okx"):
                store.write(backfill.events(exchange, symbol, now_ms - days * DAY_MS, now_ms))
        assert store.flush(120)


def test_warm_start_to_a_full_map(tmp_path: Path) -> None:
    symbols = ["BTC", "ETH", "SOL"]
    now = (int(time.time() * 1000) // MINUTE_MS) * MINUTE_MS
    _fill_store(tmp_path, symbols, 7, now)

    def full(engine: Engine) -> bool:
        engine.advance(now)
        return all(
            (snap := engine.snapshot(s)).has_estimate
            and snap.realized_count > 0
            and len(snap.estimated_by_exchange) == 3
            for s in symbols
        )

    async def start() -> tuple[float, float, Engine]:
        pre, warnings = _preloader(_options(tmp_path, None, backfill_ms=7 * DAY_MS), now)
        engine = Engine()
        t0 = time.perf_counter()
        await pre.start(engine, None, {}, symbols)  # type: ignore[arg-type]
        while not full(engine):
            await asyncio.sleep(0.05)
        first = time.perf_counter() - t0
        await pre.wait_idle()
        took = time.perf_counter() - t0
        await pre.stop()
        assert warnings == []
        return first, took, engine

    first, took, engine = asyncio.run(start())
    assert full(engine)
    print(
        f"\nwarm start, 3 markets x 3 exchanges: a full map (the last 24 h) in {first:.2f} s, "
        f"all 7 days in {took:.2f} s"
    )
    assert took < 30  # the figures are reported (README); the bound only catches a hang


# -- settings and the status line -------------------------------------------------------------
def test_settings_backfill_0s_and_store_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from liqtui.cli import main
    from liqtui.commands.common import store_dir
    from liqtui.config import ConfigError, load_settings

    folder = tmp_path / "my store"
    config = tmp_path / "c.toml"
    config.write_text(f'[feeds]\nbackfill = "0s"\n[store]\ndir = "{folder}"\nretention = "2d"\n')
    settings = load_settings(config)
    assert settings.feeds.backfill == "0s" and store_dir(settings) == folder
    options = HistoryOptions.from_settings(settings, folder)
    assert (options.backfill_ms, options.retention_ms, options.span_ms) == (0, 2 * DAY_MS, DAY_MS)
    _fill_store(folder, ["BTC"], 1, (int(time.time() * 1000) // MINUTE_MS) * MINUTE_MS)
    monkeypatch.setenv("LIQTUI_CONFIG", str(config))  # the user's config file
    assert main(["store", "info", "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["symbols"] == ["BTC"]  # [store] dir was read
    monkeypatch.delenv("LIQTUI_CONFIG")
    config.write_text('[feeds]\nbackfill = "0m"\n')
    with pytest.raises(ConfigError, match=r"feeds.backfill: .*allowed: 1m to 365d, or 0s"):
        load_settings(config)


def test_status_line_shows_history_progress() -> None:
    from liqtui.health import FeedHealth
    from liqtui.ui.widgets.status import status_parts

    engine = Engine()
    engine.apply(MarkPrice("binance", "BTC", T, 97_000.0, None))
    feeds = [
        FeedHealth("binance", history="done", history_progress=1.0),
        FeedHealth("bybit", history="loading", history_markets=("BTC",), history_progress=0.5),
        FeedHealth("okx", history="loading", history_markets=("BTC", "ETH"), history_progress=0.2),
        FeedHealth("hyperliquid", history="store", history_note="no open-interest history"),
    ]
    assert history_progress(feeds) == "history BTC, ETH 2/4 exchanges, 68%"
    engine.feeds = {f.name: f for f in feeds}
    lines = status_parts(engine.snapshot("BTC"))
    text = " ".join(seg for part in lines[1] for seg, _ in part.segs)
    assert "history BTC, ETH 2/4 exchanges, 68%" in text
    assert "history store: no open-interest history" in text
    for f in feeds:
        f.history, f.history_markets = "done", ()
    assert history_progress(feeds) is None


# -- cold-start honesty (issue 13): how much history the map holds, and its confidence --------
async def _live_history(tmp_path: Path, backfill: FakeBackfill | None) -> tuple[Engine, Any]:
    """A live start against the loopback exchanges (binance, okx), with `backfill` (None: no
    store and no backfill at all); returns the engine once the history is in and binance's
    live open interest has been read."""
    async with FakeExchanges(["BTC"], seed=1, speed=1.0, history_ms=2 * MINUTE_MS) as fake:
        settings = loopback_settings(fake.endpoints(), exchanges=["binance", "okx"])
        if backfill is None:
            options = HistoryOptions.from_settings(_settings_0s(), None)
        else:
            options = _options(tmp_path, backfill, backfill_ms=DAY_MS)
        source = LiveSource(settings, ["BTC"], history=options)
        engine = Engine()
        task = asyncio.create_task(source.run(engine))
        try:
            await wait_until(
                lambda: (
                    source.history_ready
                    and "binance" in engine.snapshot("BTC").oi_history_ms
                    and engine.feeds["binance"].last_event_ms is not None
                ),
                15,
            )
        finally:
            await stop(task)
    return engine, source


async def test_a_cold_start_says_it_holds_no_history_and_low_confidence(tmp_path: Path) -> None:
    from liqtui.output.render import history_text
    from liqtui.output.snapshot import snapshot_dict
    from liqtui.ui.widgets.status import status_parts

    engine, _ = await _live_history(tmp_path, None)
    snap = engine.snapshot("BTC")
    assert all(ms < 5 * MINUTE_MS for ms in snap.oi_history_ms.values())
    assert snap.confidence < 0.01
    assert history_text(snap) == "map history 0 h · confidence 0%"
    status = " ".join(t for line in status_parts(snap) for p in line for t, _ in p.segs)
    assert "map history 0 h · confidence 0%" in status
    history = snapshot_dict(snap)["estimated"]["history"]  # type: ignore[index]
    assert history["hours"]["binance"] < 0.1 and history["confidence"] < 0.01
    assert history["half_life_hours"] == 12.0


async def test_a_warm_start_holds_the_backfilled_day_and_more_confidence(tmp_path: Path) -> None:
    from liqtui.output.render import history_text
    from liqtui.output.snapshot import snapshot_dict
    from liqtui.ui.widgets.cascade import risk_view

    async with FakeExchanges(["BTC"], seed=1, speed=1.0, history_ms=2 * MINUTE_MS) as fake:
        assert fake.sim is not None
        price = fake.sim.price("BTC")
    backfill = FakeBackfill(prices={"BTC": price}, available={"binance": DAY_MS, "okx": DAY_MS})
    engine, _ = await _live_history(tmp_path, backfill)
    snap = engine.snapshot("BTC")
    hours = {ex: ms / HOUR_MS for ex, ms in snap.oi_history_ms.items()}
    assert set(hours) == {"binance", "okx"} and min(hours.values()) > 23.9
    # A day of history against a 12 h half-life: 1 − 2^(−2) of a full map.
    assert snap.confidence == pytest.approx(0.75, abs=0.01)
    assert history_text(snap) == "map history 24 h · confidence 75%"
    panel = risk_view(snap)
    assert panel.history == "binance 24 h · okx 24 h · confidence 75%"
    assert panel.half_life_ms == 12 * HOUR_MS
    history = snapshot_dict(snap)["estimated"]["history"]  # type: ignore[index]
    assert history["confidence"] == pytest.approx(0.75, abs=0.01)
