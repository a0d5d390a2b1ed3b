"""Cold backfill against the loopback fake exchanges (issue 15): requests and wall time of a
7-day history of BTC, ETH and SOL on Binance, Bybit and OKX at once, each exchange within its
own REST budget at the real rate (`rest_share` 0.5), and what it gave.

    python -m benchmarks.backfill_bench [--days 7] [--symbols BTC,ETH,SOL]

The fakes serve the exchanges' real page sizes and caps (tests/support/fake_history.py), so the
request counts are the real ones; the time is the budgets' (loopback answers take ~1 ms), which
is what a real cold start spends on top of the network's round trips.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if importlib.util.find_spec("liqtui") is None:  # not installed: the checkout's
    sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import aiohttp  # noqa: E402
from support.fake_exchanges import FakeExchanges  # noqa: E402
from support.loopback import loopback_settings  # noqa: E402

from liqtui.feeds.backfill import Backfill  # noqa: E402

EXCHANGES = ("binance", "bybit", "okx")
DAY_MS = 86_400_000


async def measure(days: float = 7.0, symbols: tuple[str, ...] = ("BTC", "ETH", "SOL")) -> dict:
    """Figures of one cold backfill: per exchange requests, seconds until its last market was
    done, events; totals."""
    async with FakeExchanges(list(symbols), seed=7, speed=None) as fake:
        settings = loopback_settings(fake.endpoints())
        async with aiohttp.ClientSession() as session:
            backfill = Backfill(settings, session, {})
            now = int(time.time() * 1000)
            start = time.monotonic()

            async def one(exchange: str, market: str) -> tuple[str, int, int, bool, float]:
                r = await backfill.fetch(exchange, market, now - int(days * DAY_MS), now)
                return exchange, r.requests, len(r.events), r.complete, time.monotonic() - start

            done = await asyncio.gather(*(one(ex, m) for ex in EXCHANGES for m in symbols))
    out: dict = {"days": days, "symbols": list(symbols), "exchanges": {}}
    for exchange in EXCHANGES:
        rows = [d for d in done if d[0] == exchange]
        out["exchanges"][exchange] = {
            "requests": sum(d[1] for d in rows),
            "events": sum(d[2] for d in rows),
            "complete": all(d[3] for d in rows),
            "seconds": round(max(d[4] for d in rows), 2),
        }
    out["requests"] = sum(e["requests"] for e in out["exchanges"].values())
    out["seconds"] = round(max(d[4] for d in done), 2)
    out["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--symbols", default="BTC,ETH,SOL")
    args = parser.parse_args()
    figures = asyncio.run(measure(args.days, tuple(args.symbols.split(","))))
    print(f"cold {figures['days']:g}-day backfill of {', '.join(figures['symbols'])}:")
    for exchange, f in figures["exchanges"].items():
        print(f"  {exchange:8} {f['requests']:4} requests  {f['seconds']:6.1f} s  "
              f"{f['events']:7} events  {'complete' if f['complete'] else 'PARTIAL'}")  # fmt: skip
    print(f"  total    {figures['requests']:4} requests  {figures['seconds']:6.1f} s  "
          f"(max RSS {figures['max_rss_mb']} MB)")  # fmt: skip


if __name__ == "__main__":
    main()
