"""Warm start: a store holding `--days` of `--markets` on three exchanges (made-up minutes from
tests/support/fake_backfill.py, a print every 20 minutes), then a live start's history
(liqtui.feeds.preload) into an engine: the time to a full map (the recent window: estimate and
realized prints of every market on every exchange), the time until every day is in, the store's
size per market-exchange-day, and the peak memory (RSS) of the process.

Run: python benchmarks/warm_start.py [--days 7] [--markets BTC,ETH,SOL]   (no network)
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from support.fake_backfill import DAY_MS, MINUTE_MS, FakeBackfill

from liqtui.config import Settings
from liqtui.feeds.preload import HistoryOptions, Preloader
from liqtui.model.engine import Engine
from liqtui.store import STORE_FILE, open_store

EXCHANGES = ("binance", "bybit", "okx")


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
    options = HistoryOptions(folder, days * DAY_MS, 3650 * DAY_MS, DAY_MS, make_backfill=None)
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--markets", default="BTC,ETH,SOL")
    args = parser.parse_args()
    markets = args.markets.split(",")
    now = int(time.time() * 1000) // MINUTE_MS * MINUTE_MS
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        wrote = fill(folder, markets, args.days, now)
        size = sum(f.stat().st_size for f in folder.glob(f"{STORE_FILE}*"))
        first, done = asyncio.run(start(folder, markets, args.days, now))
    per_day = size / (len(markets) * len(EXCHANGES) * args.days)
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"store: {len(markets)} markets x {len(EXCHANGES)} exchanges x {args.days} days")
    print(f"  written in {wrote:.1f} s, {size / 1e6:.1f} MB ({per_day / 1e3:.0f} kB per day)")
    print(f"warm start: a full map in {first:.2f} s (target 1.5 s), every day in {done:.2f} s")
    print(f"peak memory (RSS) of the process: {rss_mb:.0f} MB")


if __name__ == "__main__":
    main()
