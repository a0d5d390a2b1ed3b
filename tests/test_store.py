"""The local store (liqtui.store, issue 15): round trip, merge and dedupe, two processes, damaged,
newer-schema and locked files, kill -9, a full disk, prune, info/export and `liqtui store`."""

from __future__ import annotations

import csv
import io
import json
import math
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from liqtui.cli import main
from liqtui.events import Liquidation, MarketEvent, MarkPrice, OpenInterest, Side, TradeFlow
from liqtui.store import STORE_FILE, MinuteRow, default_store_dir
from liqtui.store.minutes import MINUTE_MS, aggregate, events_from_rows
from liqtui.store.sqlite import SCHEMA_VERSION, SQLiteStore

ROOT = Path(__file__).resolve().parents[1]
T0 = 1_767_225_600_000  # 2026-01-01 UTC
DAY_MS = 86_400_000


def market_events(
    minutes: int,
    *,
    exchanges: tuple[str, ...] = ("binance", "bybit"),
    symbol: str = "BTC",
    start_ms: int = T0,
    prints_per_minute: int = 2,
    seed: int = 1,
) -> list[MarketEvent]:
    """A plausible market: marks every 5 s (funding on each), one closed kline per minute, OI
    every 15 s (one reading in the first minute), liquidation prints."""
    rng = random.Random(seed)
    out: list[MarketEvent] = []
    for ex in exchanges:
        price, oi = 100_000.0, 50_000.0
        for m in range(minutes):
            base = start_ms + m * MINUTE_MS
            if m > 0:  # the kline of the previous minute, stamped at its end
                buy, sell = rng.uniform(5, 50), rng.uniform(5, 50)
                out.append(
                    TradeFlow(
                        ex,
                        symbol,
                        base,
                        MINUTE_MS,
                        buy,
                        sell,
                        price * 1.0001,
                        price * 1.002,
                        price * 0.998,
                        price,
                        "kline",
                    )
                )
            for s in range(0, 60, 5):
                price *= math.exp(rng.gauss(0, 0.0008))
                out.append(MarkPrice(ex, symbol, base + s * 1000 + 7, price, 0.0001))
            for s in (3, 18, 33, 48) if m else (3,):
                oi *= 1 + rng.gauss(0.0005, 0.002)
                out.append(OpenInterest(ex, symbol, base + s * 1000, oi))
            for _ in range(prints_per_minute):
                q = round(rng.uniform(0.001, 2), 3)
                p = price * (1 + rng.gauss(0, 0.001))
                side: Side = "long" if rng.random() < 0.5 else "short"
                out.append(Liquidation(ex, symbol, base + rng.randrange(60_000), side, p, q, p * q))
    out.sort(key=lambda e: e.time_ms)
    return out


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    return tmp_path / "state" / "liqtui"


@pytest.fixture
def store(store_dir: Path) -> Iterator[SQLiteStore]:
    s = SQLiteStore.open(store_dir / STORE_FILE, commit_interval_s=0.05)
    yield s
    s.close()


def _quick_check(path: Path) -> str:
    conn = sqlite3.connect(path)
    try:
        return str(conn.execute("PRAGMA quick_check").fetchone()[0])
    finally:
        conn.close()


def _count(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
    finally:
        conn.close()


# -- location ------------------------------------------------------------------------------------
def test_default_store_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert default_store_dir() == tmp_path / "liqtui"
    monkeypatch.setenv("XDG_STATE_HOME", "relative/path")  # ignored, as the XDG spec says
    assert default_store_dir() == Path.home() / ".local" / "state" / "liqtui"
    monkeypatch.delenv("XDG_STATE_HOME")
    assert default_store_dir() == Path.home() / ".local" / "state" / "liqtui"


def test_store_imports_only_events_and_stdlib() -> None:
    code = (
        "import sys, liqtui.store, liqtui.store.sqlite, liqtui.store.minutes\n"
        "bad = [m for m in sys.modules if m.startswith(('liqtui.model', 'liqtui.ui', "
        "'liqtui.feeds', 'textual', 'numpy', 'aiohttp'))]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT, env=_env())


# -- round trip ----------------------------------------------------------------------------------
def test_round_trip_events_store_events(store: SQLiteStore) -> None:
    events = market_events(30)
    store.write(events)
    assert store.flush()
    stats = store.stats
    assert (stats.written, stats.dropped, stats.errors, stats.queued) == (len(events), 0, 0, 0)
    loaded = store.load(T0, T0 + DAY_MS)
    assert [e.time_ms for e in loaded] == sorted(e.time_ms for e in loaded)
    rows, prints = aggregate(events)
    again_rows, again_prints = aggregate(loaded)
    assert again_rows == rows  # events → rows → events → rows: the rows come back the same
    assert sorted(again_prints, key=repr) == sorted(prints, key=repr)
    assert store.minutes(T0, T0 + DAY_MS) == rows
    # a range: minutes starting in [start, end)
    part = store.load(
        T0 + 10 * MINUTE_MS, T0 + 20 * MINUTE_MS, symbols=["BTC"], exchanges=["bybit"]
    )
    assert {e.exchange for e in part} == {"bybit"}
    assert all(T0 + 10 * MINUTE_MS <= e.time_ms < T0 + 20 * MINUTE_MS for e in part)
    assert store.load(T0, T0 + DAY_MS, symbols=["ETH"]) == []


def test_a_map_from_the_store_equals_the_live_map(store: SQLiteStore) -> None:
    """The engine fed the stored rows builds the map it built from the events themselves."""
    from liqtui.model.engine import Engine

    events = market_events(90, prints_per_minute=4)
    store.write(events)
    assert store.flush()

    def run(evs: list[MarketEvent]) -> Engine:
        engine = Engine()
        for ev in evs:
            engine.advance(ev.time_ms)
            engine.apply(ev)
        engine.advance(T0 + 91 * MINUTE_MS)
        return engine

    live, stored = run(events), run(store.load(T0, T0 + DAY_MS))
    a, b = live.snapshot("BTC"), stored.snapshot("BTC")
    assert a.grid is not None and a.grid == b.grid
    assert a.estimated_long.sum() > 0 and a.estimated_short.sum() > 0
    np.testing.assert_allclose(b.estimated_long, a.estimated_long, rtol=1e-9, atol=1e-6)
    np.testing.assert_allclose(b.estimated_short, a.estimated_short, rtol=1e-9, atol=1e-6)
    np.testing.assert_array_equal(b.realized_long, a.realized_long)
    assert (b.realized_count, b.open_interest, b.funding, b.price) == (
        a.realized_count,
        a.open_interest,
        a.funding,
        a.price,
    )


def test_minute_row_to_events_keeps_the_minute() -> None:
    row = MinuteRow(
        "okx",
        "ETH",
        T0,
        10.0,
        12.0,
        9.0,
        9.5,
        T0 + 100,
        T0 + 59_000,
        10.5,
        1.0,
        2.0,
        12.5,
        8.5,
        9.4,
        False,
        7.0,
        T0 + 30_000,
        -0.0001,
    )
    events = events_from_rows([row])
    assert aggregate(events)[0] == [row]
    marks = [e for e in events if isinstance(e, MarkPrice)]
    assert [m.mark_price for m in marks] == [10.0, 12.0, 9.0, 9.5]  # falling: open, high, low
    assert [m.funding_rate for m in marks] == [None, None, None, -0.0001]
    flow = next(e for e in events if isinstance(e, TradeFlow))
    assert (flow.time_ms, flow.source) == (T0, "trades")
    single = MinuteRow("okx", "ETH", T0, 5.0, 5.0, 5.0, 5.0, T0 + 1, T0 + 1)
    assert events_from_rows([single]) == [MarkPrice("okx", "ETH", T0 + 1, 5.0, None)]


def test_depth_and_implausible_events_are_skipped_and_counted(store: SQLiteStore) -> None:
    from liqtui.events import BookDepth

    depth = BookDepth("binance", "BTC", T0, 100.0, (0.01,), (1.0,), (1.0,))
    bad = MarkPrice("binance", "BTC", T0, float("nan"))
    store.write([depth, bad, MarkPrice("binance", "BTC", T0, 100.0)])
    assert store.flush()
    s = store.stats
    assert (s.written, s.skipped, s.dropped) == (1, 2, 0)


# -- two writers ---------------------------------------------------------------------------------
def test_prints_dedupe_and_minutes_merge_with_two_writers(store_dir: Path) -> None:
    path = store_dir / STORE_FILE
    a = SQLiteStore.open(path, commit_interval_s=0.05)
    b = SQLiteStore.open(path, commit_interval_s=0.05)
    kline = TradeFlow("binance", "BTC", T0, MINUTE_MS, 3.0, 2.0, 100.0, 101.0, 99.0, 100.5, "kline")
    prints = [Liquidation("binance", "BTC", T0 + i, "long", 99.0, 0.5, 49.5) for i in range(50)]
    # a saw the first half of the minute, b the second; both saw the kline and every print
    a.write(
        [
            MarkPrice("binance", "BTC", T0 + 1_000, 100.0, 0.0001),
            MarkPrice("binance", "BTC", T0 + 20_000, 104.0, 0.0001),
            kline,
            OpenInterest("binance", "BTC", T0 + 10_000, 500.0),
            *prints,
        ]
    )
    b.write(
        [
            MarkPrice("binance", "BTC", T0 + 31_000, 97.0, 0.0002),
            MarkPrice("binance", "BTC", T0 + 59_000, 101.0, 0.0003),
            kline,
            OpenInterest("binance", "BTC", T0 + 40_000, 510.0),
            *prints,
        ]
    )
    assert a.flush() and b.flush()
    # and again (a writer rewrites a changed minute whole; the rewrite must not add up)
    a.write([MarkPrice("binance", "BTC", T0 + 25_000, 103.0), *prints[:10]])
    b.write([MarkPrice("binance", "BTC", T0 + 30_000, 102.0)])
    assert a.flush() and b.flush()
    (row,) = a.minutes(T0, T0 + MINUTE_MS)
    assert (row.open, row.high, row.low, row.close) == (100.0, 104.0, 97.0, 101.0)
    assert (row.open_ms, row.close_ms, row.funding) == (T0 + 1_000, T0 + 59_000, 0.0003)
    assert (row.taker_buy, row.taker_sell, row.vwap) == (3.0, 2.0, 100.0)  # never 6 + 4
    assert (row.open_interest, row.oi_ms) == (510.0, T0 + 40_000)
    assert len(a.prints(T0, T0 + MINUTE_MS)) == 50
    assert a.stats.duplicates + b.stats.duplicates == 60
    a.close()
    b.close()


_WRITER = """
import sys, time
sys.path.insert(0, {root!r})
from tests.test_store import market_events, T0
from liqtui.store.sqlite import SQLiteStore
store = SQLiteStore.open(__import__("pathlib").Path(sys.argv[1]), commit_interval_s=0.02)
events = market_events(120, exchanges=("binance", "okx"), prints_per_minute=25)
for i in range(0, len(events), 300):
    store.write(events[i:i + 300])
    time.sleep(0.01)
store.close()
s = store.stats
print(s.written, s.dropped, s.errors, s.last_error)
"""


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    return env


def test_two_processes_share_a_store(store_dir: Path) -> None:
    store_dir.mkdir(parents=True)
    path = store_dir / STORE_FILE
    script = _WRITER.format(root=str(ROOT))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", script, str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=120) for p in procs]
    for p, (out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
        _, dropped, errors, _ = out.split(maxsplit=3)
        assert (int(dropped), int(errors)) == (0, 0), out
    assert _quick_check(path) == "ok"
    events = market_events(120, exchanges=("binance", "okx"), prints_per_minute=25)
    rows, prints = aggregate(events)
    assert _count(path, "prints") == len(
        {(p.exchange, p.time_ms, p.side, p.quantity, p.price) for p in prints}
    )
    with SQLiteStore.open(path) as store:
        assert store.minutes(T0, T0 + DAY_MS) == rows  # nothing counted twice


# -- opening a bad file --------------------------------------------------------------------------
def _fresh_store_works(path: Path) -> None:
    with SQLiteStore.open(path, commit_interval_s=0.05) as store:
        assert store.warning is None and store.available
        store.write(market_events(2))
        assert store.flush()
        assert store.info().minute_rows == 4


def test_a_file_that_is_not_a_database_is_moved_aside(store_dir: Path) -> None:
    store_dir.mkdir(parents=True)
    path = store_dir / STORE_FILE
    path.write_bytes(b"this is not a database, just some text " * 200)
    Path(f"{path}-wal").write_bytes(b"junk")
    with SQLiteStore.open(path) as store:
        assert store.available
        warning = store.warning
        assert warning is not None and "\n" not in warning
        assert "damaged" in warning and "moved aside as store.sqlite3.bad-" in warning
        assert store.load(0, 2**62) == []
    moved = sorted(p.name for p in store_dir.iterdir() if ".bad-" in p.name)
    assert moved[0].startswith("store.sqlite3.bad-") and moved[0] in warning
    _fresh_store_works(path)


def test_a_corrupted_page_is_moved_aside(store_dir: Path) -> None:
    path = store_dir / STORE_FILE
    with SQLiteStore.open(path, commit_interval_s=0.05) as store:
        store.write(market_events(60, prints_per_minute=30))
        assert store.flush()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 6 * page
    rng = random.Random(3)
    for offset in range(2 * page, len(data), page):  # every b-tree page after the schema
        data[offset : offset + 64] = bytes(rng.randrange(256) for _ in range(64))
    path.write_bytes(bytes(data))
    with SQLiteStore.open(path) as store:
        assert store.warning is not None and "damaged" in store.warning, store.warning
    _fresh_store_works(path)


def test_a_newer_schema_is_moved_aside(store_dir: Path) -> None:
    store_dir.mkdir(parents=True)
    path = store_dir / STORE_FILE
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE future (x)")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    with SQLiteStore.open(path) as store:
        assert store.warning is not None
        assert f"schema version {SCHEMA_VERSION + 1}" in store.warning
        assert "newer liqtui" in store.warning and "moved aside" in store.warning
    _fresh_store_works(path)
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_a_locked_store_is_left_alone(store_dir: Path) -> None:
    path = store_dir / STORE_FILE
    _fresh_store_works(path)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
            import sqlite3, sys, time
            conn = sqlite3.connect(sys.argv[1], isolation_level=None)
            conn.execute("PRAGMA locking_mode = EXCLUSIVE")
            conn.execute("BEGIN EXCLUSIVE")
            conn.execute("INSERT INTO prints VALUES ('X', 'x', 1, 'long', 1, 1, 1)")
            print("locked", flush=True)
            time.sleep(60)
        """),
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        with SQLiteStore.open(path, lock_timeout_s=0.3) as store:
            assert not store.available
            assert store.warning is not None and "locked by another process" in store.warning
            store.write(market_events(1))
            assert store.stats.dropped > 0 and store.load(0, 2**62) == []
        assert not [p for p in store_dir.iterdir() if ".bad-" in p.name]  # nothing moved
    finally:
        holder.kill()
        holder.wait()
    with SQLiteStore.open(path) as store:  # the holder is gone: its transaction never was
        assert store.warning is None and store.info().print_rows == 8


def test_a_folder_that_cannot_be_made_is_a_warning(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with SQLiteStore.open(blocker / "sub" / STORE_FILE) as store:
        assert not store.available and store.warning is not None
        assert "cannot create the folder" in store.warning


# -- crashes and full disks ----------------------------------------------------------------------
_LOOP = """
import sys, time
sys.path.insert(0, {root!r})
from pathlib import Path
from liqtui.events import Liquidation, MarkPrice
from liqtui.store.sqlite import SQLiteStore
T0 = {t0}
store = SQLiteStore.open(Path(sys.argv[1]))  # commits every second
i = 0
while True:
    batch = []
    for _ in range(100):
        batch.append(Liquidation("bybit", "SOL", T0 + i, "short", 150.0, 1.0, 150.0))
        batch.append(MarkPrice("bybit", "SOL", T0 + i, 150.0 + i % 7))
        i += 1
    store.write(batch)
    print(i, time.time(), flush=True)
    time.sleep(0.01)
"""


def test_kill_9_loses_at_most_the_last_seconds(store_dir: Path) -> None:
    store_dir.mkdir(parents=True)
    path = store_dir / STORE_FILE
    proc = subprocess.Popen(
        [sys.executable, "-c", _LOOP.format(root=str(ROOT), t0=T0), str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    assert proc.stdout is not None
    progress: list[tuple[int, float]] = []
    started = time.time()
    while time.time() - started < 3.5:
        n, t = proc.stdout.readline().split()
        progress.append((int(n), float(t)))
    killed_at = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with SQLiteStore.open(path) as store:
        assert store.warning is None  # consistent: no damage, nothing moved aside
        prints = store.prints(0, 2**62)
    assert _quick_check(path) == "ok"
    times = [p.time_ms - T0 for p in prints]
    assert times == list(range(len(times)))  # a prefix: whole commits, nothing torn
    queued_3s_before = max((n for n, t in progress if t <= killed_at - 3.0), default=0)
    assert queued_3s_before > 0
    assert len(prints) >= queued_3s_before, (len(prints), progress[-1])


def test_a_full_disk_is_counted_not_raised(store_dir: Path) -> None:
    path = store_dir / STORE_FILE
    store = SQLiteStore.open(path, commit_interval_s=0.05, max_size_bytes=128 * 1024)
    events = market_events(400, prints_per_minute=20)
    for i in range(0, len(events), 500):
        store.write(events[i : i + 500])
        assert store.flush()
    store.close()
    s = store.stats
    assert s.errors > 0 and s.dropped > 0 and s.written > 0
    assert s.last_error is not None and "full" in s.last_error and "\n" not in s.last_error
    assert s.written + s.dropped + s.skipped == len(events)
    assert _quick_check(path) == "ok"


def test_writes_after_close_are_counted_as_dropped(store: SQLiteStore) -> None:
    store.close()
    store.write(market_events(1))
    assert store.stats.dropped > 0


# -- retention, info, export ---------------------------------------------------------------------
def test_prune(store: SQLiteStore) -> None:
    old = market_events(10, start_ms=T0)
    new = market_events(10, start_ms=T0 + 5 * DAY_MS, seed=2)
    store.write(old + new)
    assert store.flush()
    before = store.info()
    result = store.prune(T0 + DAY_MS)
    assert result.minutes == 20 and result.prints == len(
        [e for e in old if isinstance(e, Liquidation)]
    )
    after = store.info()
    assert after.minute_rows == before.minute_rows - 20
    assert after.first_ms is not None and after.first_ms >= T0 + 5 * DAY_MS


def test_background_prune_keeps_the_retention(store_dir: Path) -> None:
    path = store_dir / STORE_FILE
    with SQLiteStore.open(path, commit_interval_s=0.05) as store:
        store.write(market_events(5) + market_events(5, start_ms=T0 + 10 * DAY_MS))
        assert store.flush()
    now = (T0 + 10 * DAY_MS) / 1000
    with SQLiteStore.open(
        path, retention_ms=DAY_MS, commit_interval_s=0.05, clock=lambda: now
    ) as store:
        deadline = time.time() + 10
        while store.stats.pruned_minutes == 0 and time.time() < deadline:
            time.sleep(0.05)
        assert store.stats.pruned_minutes == 10
        assert store.info().first_ms == T0 + 10 * DAY_MS


def test_info_and_export(store: SQLiteStore) -> None:
    events = market_events(3) + market_events(2, symbol="ETH", exchanges=("okx",), seed=5)
    store.write(events)
    assert store.flush()
    info = store.info()
    assert info.exchanges == ("binance", "bybit", "okx") and info.symbols == ("BTC", "ETH")
    assert (info.minute_rows, info.print_rows, info.schema_version) == (8, 16, SCHEMA_VERSION)
    assert info.first_ms == T0 and info.last_ms is not None and info.size_bytes > 0
    out = io.StringIO()
    assert store.export("jsonl", out) == 24
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["kind"] for r in records].count("print") == 16
    minute = next(r for r in records if r["kind"] == "minute")
    assert MinuteRow(**{k: v for k, v in minute.items() if k != "kind"}) in store.minutes(0, 2**62)
    out = io.StringIO()
    assert store.export("csv", out) == 24
    rows = list(csv.DictReader(io.StringIO(out.getvalue())))
    assert len(rows) == 24 and {r["kind"] for r in rows} == {"minute", "print"}


def test_size_per_market_exchange_day(tmp_path: Path) -> None:
    """1,440 minute rows and 2,000 prints per market-exchange-day (reported in the -s output)."""
    path = tmp_path / STORE_FILE
    days, markets = 2, (("binance", "BTC"), ("bybit", "BTC"), ("okx", "ETH"))
    with SQLiteStore.open(path, commit_interval_s=0.5) as store:
        for ex, sym in markets:
            events = market_events(
                days * 1440, exchanges=(ex,), symbol=sym, prints_per_minute=0, seed=hash(ex) % 100
            )
            rng = random.Random(7)
            events += [
                Liquidation(
                    ex,
                    sym,
                    T0 + rng.randrange(days * DAY_MS),
                    "long" if rng.random() < 0.5 else "short",
                    100_000 * (1 + rng.gauss(0, 0.01)),
                    round(rng.uniform(0.001, 3), 3),
                    1000.0,
                )
                for _ in range(days * 2000)
            ]
            store.write(events)
        assert store.flush(60)
        info = store.info()
    assert info.minute_rows == days * 1440 * len(markets)
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    per_day = path.stat().st_size / (days * len(markets))
    print(
        f"\nstore size per market-exchange-day: {per_day:,.0f} bytes "
        f"(1,440 minute rows + 2,000 prints)"
    )
    assert per_day < 400_000


# -- liqtui store --------------------------------------------------------------------------------
def test_cli_store_commands(
    store_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    d = ["--store-dir", str(store_dir)]
    assert main(["store", "info", *d]) == 0
    assert "no store at" in capsys.readouterr().out
    assert main(["store", "export", *d]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no store at" in err and "Traceback" not in err
    with SQLiteStore.open(store_dir / STORE_FILE, commit_interval_s=0.05) as store:
        now = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS
        recent = market_events(3, start_ms=now - 2 * 3_600_000)
        store.write(recent + market_events(2, start_ms=now - 10 * DAY_MS, seed=4))
        assert store.flush()
    assert main(["store", "info", *d]) == 0
    text = capsys.readouterr().out
    assert "1 markets on 2 exchanges" in text and "binance" in text
    assert main(["store", "info", "--format", "json", *d]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["exchanges"] == ["binance", "bybit"] and info["minute_rows"] == 10
    out_file = tmp_path / "all.csv"
    assert main(["store", "export", "--format", "csv", "-o", str(out_file), *d]) == 0
    assert len(out_file.read_text().splitlines()) == 1 + 10 + 20
    assert main(["store", "export", *d]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 30
    assert main(["store", "prune", *d]) == 0  # 30 days by default
    assert "pruned 0 minute rows and 0 prints" in capsys.readouterr().out
    assert main(["store", "prune", "--older-than", "5d", *d]) == 0
    assert "pruned 4 minute rows and 8 prints" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exit_info:
        main(["store", "prune", "--older-than", "soon", *d])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "soon" in err


def test_cli_store_info_of_a_damaged_store(
    store_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store_dir.mkdir(parents=True)
    (store_dir / STORE_FILE).write_bytes(b"\x00garbage" * 1000)
    assert main(["store", "info", "--store-dir", str(store_dir)]) == 0
    captured = capsys.readouterr()
    assert captured.err.startswith("liqtui: warning: store ") and "moved aside" in captured.err
    assert captured.err.count("\n") == 1 and "Traceback" not in captured.err
    assert "0 minute rows" in captured.out


def test_a_writer_bug_is_counted_not_raised(
    store_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from liqtui.store import sqlite as store_sqlite

    class Broken(store_sqlite.MinuteAggregator):
        def add(self, event: MarketEvent) -> bool:
            raise RuntimeError("boom")

    monkeypatch.setattr(store_sqlite, "MinuteAggregator", Broken)
    with SQLiteStore.open(store_dir / STORE_FILE, commit_interval_s=0.05) as store:
        store.write(market_events(1))
        assert store.flush(5)
        s = store.stats
        assert (s.errors, s.dropped, s.queued, store.available) == (1, 30, 0, False)
        assert s.last_error == "writer stopped: RuntimeError: boom"


def test_processes_opening_one_damaged_store_at_once_move_it_aside_once(tmp_path: Path) -> None:
    """Several liqtui processes start together on a damaged store: exactly one moves it aside
    and starts a fresh one; the others open that fresh store (none moves it aside again)."""
    path = tmp_path / STORE_FILE
    path.write_bytes(b"not a database " * 500)
    code = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from liqtui.store.sqlite import SQLiteStore
        start = float(sys.argv[1])
        while time.time() < start:
            pass
        store = SQLiteStore.open(Path({str(path)!r}))
        print(store.warning or "-", store.available)
        store.close()
        """
    )
    start = time.time() + 1.5
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(start)],
            stdout=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for _ in range(4)
    ]
    outs = [p.communicate(timeout=60)[0].strip() for p in procs]
    assert all(out.endswith("True") for out in outs), outs
    assert sum("moved aside" in out for out in outs) == 1, outs
    assert len(list(tmp_path.glob(f"{STORE_FILE}.bad-*"))) == 1
    assert _quick_check(path) == "ok"
