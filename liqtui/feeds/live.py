"""Live public feeds of every enabled exchange, as one Source.

Each exchange module (`liqtui.feeds.<exchange>`) provides a `Parser` and a
`plan(symbols, endpoint, feeds) -> FeedPlan`. This module turns plans into running stream
clients and pollers on one aiohttp session. Nothing here blocks the first frame: start-up
requests (market metadata) and connections happen in the background, and an exchange that
cannot be reached shows as down with its last error while it keeps retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import random
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

import aiohttp

from liqtui.config import Settings, parse_duration
from liqtui.feeds.base import EventSink
from liqtui.feeds.parsers import ExchangeParser, make_parsers
from liqtui.feeds.plan import FeedPlan
from liqtui.feeds.stream import Backoff, RestPoller, StreamClient

if TYPE_CHECKING:
    from liqtui.feeds.recording import Recorder
    from liqtui.feeds.universe import MarketUniverse


def exchange_plan(name: str, symbols: Sequence[str], settings: Settings) -> FeedPlan:
    module = importlib.import_module(f"liqtui.feeds.{name}")
    return module.plan(symbols, settings.exchanges[name], settings.feeds)  # type: ignore[no-any-return]


class LiveSource:
    name = "live"

    def __init__(
        self,
        settings: Settings,
        symbols: Sequence[str],
        *,
        recorder: Recorder | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.symbols = list(symbols)
        self.recorder = recorder
        self.rng = rng or random.Random()
        feeds = settings.feeds
        self.backoff = Backoff(
            initial_s=parse_duration(feeds.reconnect_initial) / 1000,
            cap_s=parse_duration(feeds.reconnect_max) / 1000,
        )
        self.clients: list[StreamClient] = []
        self.pollers: list[RestPoller] = []
        self._replan = asyncio.Event()

    def watch(self, symbol: str) -> bool:
        """Follow one more market (the user picked it). The exchanges' connections are
        re-planned with it; returns False if it was already followed."""
        if symbol in self.symbols:
            return False
        self.symbols.append(symbol)
        self._replan.set()
        return True

    async def list_markets(self) -> MarketUniverse:
        """Every perpetual the enabled exchanges list (via ccxt; see liqtui.feeds.universe)."""
        from liqtui.feeds.universe import fetch_universe

        return await fetch_universe(self.settings)

    async def run(self, sink: EventSink) -> None:
        parsers = make_parsers()
        names = [n for n in self.settings.feeds.exchanges if n in parsers]
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            clock = asyncio.create_task(self._clock(sink))
            tasks: list[asyncio.Task[None]] = []
            replan: asyncio.Task[bool] | None = None
            try:
                while True:
                    self._replan.clear()
                    previous, self.clients, self.pollers = tasks, [], []
                    tasks = [
                        asyncio.create_task(self._run_exchange(name, parsers[name], sink, session))
                        for name in names
                    ]
                    if previous:
                        # A market was added. The old connections keep delivering until the
                        # new ones do, so the complete feed has no gap (the engine's dedupe
                        # counts the overlap once); then they close.
                        await self._until_delivering(names, timeout_s=15.0)
                        await _cancel(previous)
                    replan = asyncio.create_task(self._replan.wait())
                    await asyncio.wait([*tasks, replan], return_when=asyncio.FIRST_COMPLETED)
                    if not replan.done():
                        replan.cancel()
                        await asyncio.gather(*tasks)  # an exchange task ended: surface why
                        return
            finally:
                await _cancel([*tasks, clock, *([replan] if replan is not None else [])])

    async def _until_delivering(self, names: list[str], *, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            ready = {c.spec.feed for c in self.clients if c.delivering.is_set()}
            if all(name in ready for name in names):
                return
            await asyncio.sleep(0.05)

    async def _clock(self, sink: EventSink) -> None:
        """Move the model's clock with the wall clock even when every feed is quiet, so data
        age grows, stale feeds show as stale and the realized window keeps sliding."""
        while True:
            sink.advance(int(time.time() * 1000))
            await asyncio.sleep(1.0)

    async def _run_exchange(
        self,
        name: str,
        parser: ExchangeParser,
        sink: EventSink,
        session: aiohttp.ClientSession,
    ) -> None:
        health = sink.feed(name)
        plan = exchange_plan(name, self.symbols, self.settings)
        health.note = plan.note
        for spec in plan.startup:  # metadata first (contract sizes), retried until it arrives
            poller = RestPoller(
                spec, parser, sink, session, recorder=self.recorder, rng=self.rng,
                backoff=self.backoff,
            )  # fmt: skip
            while True:
                await poller.poll_once()
                if poller.failures == 0:
                    break
                health.state = "down"
                await asyncio.sleep(self.backoff.delay(poller.failures, self.rng))
        jobs = []
        for stream in plan.streams:
            client = StreamClient(
                stream, parser, sink, session, recorder=self.recorder, backoff=self.backoff,
                rng=self.rng,
            )  # fmt: skip
            self.clients.append(client)
            jobs.append(client.run())
        for spec in plan.polls:
            poller = RestPoller(spec, parser, sink, session, recorder=self.recorder, rng=self.rng)
            self.pollers.append(poller)
            jobs.append(poller.run())
        if not plan.streams:
            health.state = "connected" if plan.polls else "down"
        await asyncio.gather(*jobs)


async def _cancel(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
