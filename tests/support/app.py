"""App helpers shared by the UI tests: a source that keeps data flowing, and an app over an
engine with the default watchlist of the UI tests."""

from __future__ import annotations

import asyncio

from liqtui.events import Liquidation, MarkPrice
from liqtui.model.engine import Engine
from liqtui.source import EventSink
from liqtui.ui.app import LiqApp


class TrickleSource:
    """Marks and liquidations every few milliseconds until cancelled (data while resizing)."""

    name = "trickle"

    def __init__(self, start_ms: int) -> None:
        self.start_ms = start_ms

    async def run(self, sink: EventSink) -> None:
        health = sink.feed("binance")
        health.state = "connected"
        t = self.start_ms
        i = 0
        while True:
            i += 1
            t += 250
            price = 97_000.0 + 40.0 * ((i % 20) - 10)
            sink.apply(MarkPrice("binance", "BTC", t, price))
            if i % 3 == 0:
                side = "long" if i % 2 else "short"
                sink.apply(Liquidation("binance", "BTC", t, side, price, 0.5, price / 2))
            sink.advance(t)
            health.last_event_ms = t
            await asyncio.sleep(0.002)


def make_app(engine: Engine, source=None, **kw) -> LiqApp:
    kw.setdefault("watchlist", ["BTC", "ETH", "SOL"])
    return LiqApp(engine, source, **kw)
