"""Warm start: a store holding `--days` of `--markets` on three exchanges (made-up minutes from
tests/support/fake_backfill.py, a print every 20 minutes), then a live start's history
(liqtui.feeds.preload) into an engine: the time to a full map (the recent window: estimate and
realized prints of every market on every exchange), the time until every day is in, the store's
size per market-exchange-day, and the peak memory (RSS) of the process.

Peers, measured in the same invocation on the same store, round by round after the warm start:
- SQLite alone: the same rows read back (store.minutes + store.prints of each market, no
  model): the recent window for the full map, every day for the rest;
- direct: those rows as events (events_from_rows) applied straight to a fresh Engine per market
  (preload.replay_into), without the preloader (no forks, no rebuilds, one pass).
The ratios are the warm start's time over the peer's (the preloader's and the model's cost over
a bare read; the preloader's over one straight pass).

Run: python benchmarks/warm_start.py [--days 7] [--markets BTC,ETH,SOL] [--rounds 3]
(no network)
"""

from __future__ import annotations

import argparse
import asyncio
import os
import resource
import statistics
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.fake_backfill import DAY_MS, MINUTE_MS, FakeBackfill

from liqtui.config import Settings
from liqtui.feeds.preload import HistoryOptions, Preloader, replay_into
from liqtui.model.engine import Engine
from liqtui.store import STORE_FILE, open_store
from liqtui.store.minutes import events_from_rows

EXCHANGES = ("binance", "bybit", "okx")
TARGET_S = 1.5  # a full map of three markets (issue 15)
WINDOW_MS = DAY_MS  # the model window the warm start loads first


def fill(folder: Path, markets: list[str], days: int, now_ms: int) -> float:
    """Seconds to write the store."""
    backfill = FakeBackfill(print_every=20)
    t0 = time.perf_counter()
    with closing(open_store(folder)) as store:
        for market in markets:
            for exchange in EXCHANGES:
                store.write(backfill.events(exchange, market, now_ms - days * DAY_MS, now_ms))
        store.flush(600)
    return time.perf_counter() - t0


async def start(folder: Path, markets: list[str], days: int, now_ms: int) -> tuple[float, float]:
    options = HistoryOptions(folder, days * DAY_MS, 3650 * DAY_MS, WINDOW_MS, make_backfill=None)
    pre = Preloader(Settings(), options, now_ms=lambda: now_ms)
    engine = Engine()

    def full() -> bool:
        engine.advance(now_ms)
        for market in markets:
            snap = engine.snapshot(market)
            if not (snap.has_estimate and snap.realized_count and len(snap.estimated_by_exchange)):
                return False
            if len(snap.estimated_by_exchange) < len(EXCHANGES):
                return False
        return True

    t0 = time.perf_counter()
    await pre.start(engine, None, {}, markets)  # type: ignore[arg-type]
    while not full():
        await asyncio.sleep(0.02)
    first = time.perf_counter() - t0
    await pre.wait_idle()
    done = time.perf_counter() - t0
    await pre.stop()
    return first, done


def peers(folder: Path, markets: list[str], days: int, now_ms: int) -> dict[str, float]:
    """Seconds of the peers: the window's and every day's rows read from SQLite alone, and
    read + applied straight to an Engine per market (as the preloader reads them: the minute in
    progress left out of the minute rows)."""
    end = now_ms - now_ms % MINUTE_MS
    spans = {"window": (now_ms - WINDOW_MS, end), "all": (now_ms - days * DAY_MS, end)}
    out: dict[str, float] = {}
    for span, (lo, hi) in spans.items():
        t0 = time.perf_counter()
        with closing(open_store(folder)) as store:
            read = [
                (store.minutes(lo, hi, symbols=[m]), store.prints(lo, now_ms, symbols=[m]))
                for m in markets
            ]
        out[f"read_{span}"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        with closing(open_store(folder)) as store:
            for m in markets:
                events = events_from_rows(
                    store.minutes(lo, hi, symbols=[m]), store.prints(lo, now_ms, symbols=[m])
                )
                engine = Engine()
                replay_into(engine, [events], [])
                engine.advance(now_ms)
                if not engine.snapshot(m).has_estimate:
                    raise SystemExit(f"direct replay of {m} gave no estimate")
        out[f"direct_{span}"] = time.perf_counter() - t0
        del read
    return out


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b > 0 else "–"


def measure(
    days: int = 7, markets: tuple[str, ...] = ("BTC", "ETH", "SOL"), rounds: int = 3
) -> dict:
    """Write the store once, then `rounds` × (warm start, peers) on it: every round's seconds
    (first, done, read_window, direct_window, read_all, direct_all), the store and peak RSS."""
    now = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS
    runs: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wrote = fill(folder, list(markets), days, now)
        size = sum(f.stat().st_size for f in folder.glob(f"{STORE_FILE}*"))
        for _ in range(max(rounds, 1)):
            first, done = asyncio.run(start(folder, list(markets), days, now))
            runs.append({"first": first, "done": done, **peers(folder, list(markets), days, now)})
    return {
        "days": days,
        "markets": list(markets),
        "runs": runs,
        "wrote_s": wrote,
        "size_bytes": size,
        "per_day_bytes": size / (len(markets) * len(EXCHANGES) * days),
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--markets", default="BTC,ETH,SOL")
    parser.add_argument("--rounds", type=int, default=3, help="warm start + peers, each round")
    args = parser.parse_args()
    markets = args.markets.split(",")
    m = measure(args.days, tuple(markets), args.rounds)
    runs: list[dict[str, float]] = m["runs"]
    wrote, size, per_day, rss_mb = (
        m["wrote_s"],
        m["size_bytes"],
        m["per_day_bytes"],
        m["max_rss_mb"],
    )

    def med(key: str) -> float:
        return statistics.median(r[key] for r in runs)

    def span(key: str) -> str:
        values = [r[key] for r in runs]
        return f"{med(key):.2f} s ({min(values):.2f}–{max(values):.2f})"

    def ratio(key: str, peer: str) -> str:
        return _ratio(statistics.median(r[key] / r[peer] for r in runs), 1.0)

    first = med("first")
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"store: {len(markets)} markets x {len(EXCHANGES)} exchanges x {args.days} days")
    print(f"  written in {wrote:.1f} s, {size / 1e6:.1f} MB ({per_day / 1e3:.0f} kB per day)")
    print(f"{len(runs)} rounds (median, min–max), load average {load}:")
    verdict = "PASS" if first <= TARGET_S else "FAIL"
    rows = [
        ("warm start, a full map", "first", None),
        ("  peer: SQLite read, window", "read_window", "first"),
        ("  peer: direct Engine, window", "direct_window", "first"),
        ("warm start, every day in", "done", None),
        ("  peer: SQLite read, all days", "read_all", "done"),
        ("  peer: direct Engine, all days", "direct_all", "done"),
    ]
    for label, key, of in rows:
        tail = f"  ratio {ratio(of, key)}" if of else ""
        if key == "first":
            tail = f"  target {TARGET_S} s: {verdict}"
        print(f"{label:32} {span(key):24}{tail}".rstrip())
    print(f"peak memory (RSS) of the process: {rss_mb:.0f} MB (all rounds and peers)")


if __name__ == "__main__":
    main()
