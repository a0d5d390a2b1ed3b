"""Cold backfill against the loopback fake exchanges (issue 15): requests and wall time of a
7-day history of BTC, ETH and SOL on Binance, Bybit and OKX at once, each exchange within its
own REST budget at the real rate (`rest_share` 0.5), and what it gave.

    python -m benchmarks.backfill_bench [--days 7] [--symbols BTC,ETH,SOL]

The fakes serve the exchanges' real page sizes and caps (tests/support/fake_history.py), so the
request counts are the real ones; the time is the budgets' (loopback answers take ~1 ms), which
is what a real cold start spends on top of the network's round trips.

Peers, measured in the same invocation (store-independent: nothing is written):
- budget floor: per exchange, the time the weight it spent needs at the budget's rate once the
  initial burst is used, (weight − burst) ÷ rate (liqtui/feeds/budget.py): the least any
  fetch within the rate limit can take. wall ÷ floor is the overhead over the rate limit.
- unlimited: the same fetch, same fakes, with a budget that never waits: the fakes' and the
  client's own speed. It runs first, on a fake of its own (same seed).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
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

from liqtui import exchanges as registry  # noqa: E402
from liqtui.exchanges.spec import RateLimit  # noqa: E402
from liqtui.feeds.backfill import Backfill  # noqa: E402
from liqtui.feeds.budget import RestBudget  # noqa: E402

EXCHANGES = ("binance", "bybit", "okx")
DAY_MS = 86_400_000
UNLIMITED = RateLimit(weight=1e12, per_s=1.0)  # a budget that never waits


async def measure(
    days: float = 7.0, symbols: tuple[str, ...] = ("BTC", "ETH", "SOL"), *, limited: bool = True
) -> dict:
    """Figures of one cold backfill: per exchange requests, weight spent, the budget floor,
    seconds until its last market was done, events; totals. `limited` False: unlimited budgets
    (the peer)."""
    async with FakeExchanges(list(symbols), seed=7, speed=None) as fake:
        settings = loopback_settings(fake.endpoints())
        share = settings.feeds.rest_share
        budgets = {
            ex: RestBudget(registry.get(ex).rest_limit if limited else UNLIMITED, share)
            for ex in EXCHANGES
        }
        async with aiohttp.ClientSession() as session:
            backfill = Backfill(settings, session, budgets)
            now = int(time.time() * 1000)
            start = time.monotonic()

            async def one(exchange: str, market: str) -> tuple[str, int, int, bool, float]:
                r = await backfill.fetch(exchange, market, now - int(days * DAY_MS), now)
                return exchange, r.requests, len(r.events), r.complete, time.monotonic() - start

            done = await asyncio.gather(*(one(ex, m) for ex in EXCHANGES for m in symbols))
    out: dict = {"days": days, "symbols": list(symbols), "limited": limited, "exchanges": {}}
    for exchange in EXCHANGES:
        rows = [d for d in done if d[0] == exchange]
        budget = budgets[exchange]
        out["exchanges"][exchange] = {
            "requests": sum(d[1] for d in rows),
            "events": sum(d[2] for d in rows),
            "complete": all(d[3] for d in rows),
            "seconds": round(max(d[4] for d in rows), 3),
            "weight": budget.spent,
            "rate": budget.rate,
            "burst": budget.capacity,
            "floor_s": round(max(0.0, budget.spent - budget.capacity) / budget.rate, 3),
        }
    out["requests"] = sum(e["requests"] for e in out["exchanges"].values())
    out["seconds"] = round(max(d[4] for d in done), 3)
    out["floor_s"] = max(e["floor_s"] for e in out["exchanges"].values())
    out["max_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    return out


async def measure_both(days: float, symbols: tuple[str, ...]) -> dict:
    """The unlimited peer first (short), then the real budgets; both in this process."""
    free = await measure(days, symbols, limited=False)
    real = await measure(days, symbols, limited=True)
    return {"limited": real, "unlimited": free}


def _ratio(a: float, b: float) -> str:
    return f"{a / b:6.2f}×" if b > 0 else "     –"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--symbols", default="BTC,ETH,SOL")
    args = parser.parse_args()
    both = asyncio.run(measure_both(args.days, tuple(args.symbols.split(","))))
    figures, free = both["limited"], both["unlimited"]
    print(f"cold {figures['days']:g}-day backfill of {', '.join(figures['symbols'])} "
          f"(load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}):")  # fmt: skip
    print(f"  {'':8} {'requests':>8} {'weight':>7} {'wall':>8} {'floor':>8} {'wall/floor':>10} "
          f"{'unlimited':>9} {'wall/unl.':>9}  events")  # fmt: skip
    for exchange, f in figures["exchanges"].items():
        u = free["exchanges"][exchange]
        same = "" if u["requests"] == f["requests"] else f" (unlimited: {u['requests']} req.)"
        print(f"  {exchange:8} {f['requests']:8} {f['weight']:7g} {f['seconds']:7.2f}s "
              f"{f['floor_s']:7.2f}s {_ratio(f['seconds'], f['floor_s']):>10} "
              f"{u['seconds']:8.2f}s {_ratio(f['seconds'], u['seconds']):>9}  "
              f"{f['events']:7} {'complete' if f['complete'] else 'PARTIAL'}{same}")  # fmt: skip
    print(f"  {'total':8} {figures['requests']:8} {'':7} {figures['seconds']:7.2f}s "
          f"{figures['floor_s']:7.2f}s {_ratio(figures['seconds'], figures['floor_s']):>10} "
          f"{free['seconds']:8.2f}s {_ratio(figures['seconds'], free['seconds']):>9}  "
          f"(max RSS {figures['max_rss_mb']} MB)")  # fmt: skip
    print("  floor: (weight − burst) ÷ the budget's rate (rest_share × the documented limit)")
    print("  unlimited: the same fetch with a budget that never waits (the fakes' own speed)")
    for exchange, f in figures["exchanges"].items():
        print(f"    {exchange}: rate {f['rate']:g} weight/s, burst {f['burst']:g}")


if __name__ == "__main__":
    main()
