"""Live public feeds of every enabled exchange, as one Source.

Each exchange's spec (`liqtui.exchanges.get(id)`) provides a `parser`,
`plan(symbols, endpoint, feeds) -> FeedPlan`, its documented REST limit `rest_limit`, and
`listing(endpoint)` / `listed_markets(answer)`: the request that says which markets it lists.
This module asks each exchange for its listing first, subscribes only the watched markets it
lists (the others show in its health as not listed), and turns the plan into running stream
clients and pollers on one aiohttp session (which honours HTTPS_PROXY / HTTP_PROXY). Every REST
request of an exchange spends one shared budget (liqtui.feeds.budget); when the planned polls
would exceed it, their intervals stretch and health says so.

Nothing here blocks the first frame: start-up requests (listings, market metadata) and
connections happen in the background. An exchange whose listing cannot be fetched is subscribed
for every watched market, and its refusals are taken as the word. An exchange that cannot be
reached shows as down with its last error and the time of the next attempt while it keeps
retrying.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

import aiohttp

from liqtui import exchanges as registry
from liqtui.config import Settings, parse_duration
from liqtui.exchanges.spec import ExchangeParser, ExchangeSpec, FeedPlan, ParseError, PollSpec
from liqtui.feeds.budget import Clock, RestBudget
from liqtui.feeds.recording import report_recording
from liqtui.feeds.stream import HANDOVER_GRACE_S, NOTHING, Backoff, RestPoller, StreamClient
from liqtui.source import EventSink

# An exchange's connections open at most this often (OKX allows 3 new connections a second
# per IP; Binance 300 in 5 minutes): many markets must not open a burst of them at once.
CONNECT_SPACING_S = 0.5

if TYPE_CHECKING:
    from liqtui.feeds.preload import HistoryOptions, Preloader
    from liqtui.feeds.recording import Recorder
    from liqtui.feeds.universe import MarketUniverse


class LiveSource:
    name = "live"

    def __init__(
        self,
        settings: Settings,
        symbols: Sequence[str],
        *,
        recorder: Recorder | None = None,
        rng: random.Random | None = None,
        clock: Clock | None = None,
        history: HistoryOptions | None = None,
        warn: Callable[[str], None] | None = None,
    ) -> None:
        self.settings = settings
        self.symbols = list(symbols)
        self.recorder = recorder
        self.rng = rng or random.Random()
        self.clock = clock or Clock()  # paces REST polls (tests run it faster)
        feeds = settings.feeds
        self.backoff = Backoff(
            initial_s=parse_duration(feeds.reconnect_initial) / 1000,
            cap_s=parse_duration(feeds.reconnect_max) / 1000,
        )
        self.clients: list[StreamClient] = []
        self.pollers: list[RestPoller] = []
        self.budgets: dict[str, RestBudget] = {}  # exchange → its REST budget, for the session
        self._listings: dict[str, frozenset[str]] = {}  # exchange → markets it lists
        self._planned: set[str] = set()  # exchanges whose clients of the current plan exist
        self._replan = asyncio.Event()
        # The local store and the backfill (liqtui.feeds.preload); None: neither (tests).
        self.preload: Preloader | None = None
        if history is not None:
            from liqtui.feeds.preload import Preloader

            self.preload = Preloader(
                settings, history, recorder=recorder, clock=self.clock, warn=warn
            )

    @property
    def history_ready(self) -> bool:
        """The history of every watched market is in the engine (or failed): nothing is loading.
        False until run() has started the loading (before it, nothing has been asked for yet)."""
        return self.preload is None or (self.preload.started and self.preload.idle)

    @property
    def store_loading(self) -> bool:
        """The local store's history is still being applied (see Preloader.store_loading)."""
        return self.preload is not None and (not self.preload.started or self.preload.store_loading)

    def close_store(self) -> None:
        """Hand what is pending to the store and close it (a signal path may call this)."""
        if self.preload is not None:
            self.preload.close_store()

    def watch(self, symbol: str) -> bool:
        """Follow one more market (the user picked it). The exchanges' connections are
        re-planned with it; returns False if it was already followed."""
        if symbol in self.symbols:
            return False
        self.symbols.append(symbol)
        self._replan.set()
        if self.preload is not None:
            self.preload.watch(symbol)
        return True

    async def list_markets(self) -> MarketUniverse:
        """Every perpetual the enabled exchanges list (via ccxt; see liqtui.feeds.universe)."""
        from liqtui.feeds.universe import fetch_universe

        return await fetch_universe(self.settings)

    async def run(self, sink: EventSink) -> None:
        parsers = registry.make_parsers()
        names = [n for n in self.settings.feeds.exchanges if n in parsers]
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10)
        self.budgets, self._listings = {}, {}
        async with aiohttp.ClientSession(timeout=timeout, trust_env=True) as session:
            for name in names:  # one budget per exchange, shared by polls and the backfill
                self.budgets[name] = RestBudget(
                    registry.get(name).rest_limit, self.settings.feeds.rest_share, self.clock
                )
            if self.preload is not None:
                sink = await self.preload.start(sink, session, self.budgets, self.symbols)
            clock = asyncio.create_task(self._clock(sink))
            tasks: list[asyncio.Task[None]] = []
            replan: asyncio.Task[bool] | None = None
            try:
                while True:
                    self._replan.clear()
                    previous, self.clients, self.pollers = tasks, [], []
                    self._planned = set()
                    tasks = [
                        asyncio.create_task(self._run_exchange(name, parsers[name], sink, session))
                        for name in names
                    ]
                    if previous:
                        # A market was added. The old connections keep delivering until the
                        # new ones do, so the complete feed has no gap (the engine's dedupe
                        # counts the overlap once); then they close.
                        await self._until_delivering(names, timeout_s=15.0)
                        await asyncio.sleep(HANDOVER_GRACE_S)  # what they had in flight
                        await _cancel(previous)
                    replan = asyncio.create_task(self._replan.wait())
                    await asyncio.wait([*tasks, replan], return_when=asyncio.FIRST_COMPLETED)
                    if not replan.done():
                        replan.cancel()
                        await asyncio.gather(*tasks)  # an exchange task ended: surface why
                        return
            finally:
                await _cancel([*tasks, clock, *([replan] if replan is not None else [])])
                if self.preload is not None:
                    await self.preload.stop()

    async def _until_delivering(self, names: list[str], *, timeout_s: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while loop.time() < deadline:
            if all(
                name in self._planned
                and all(c.delivering.is_set() for c in self.clients if c.spec.feed == name)
                for name in names
            ):
                return
            await asyncio.sleep(0.05)

    async def _clock(self, sink: EventSink) -> None:
        """Move the model's clock with the wall clock even when every feed is quiet, so data
        age grows, stale feeds show as stale and the realized window keeps sliding."""
        while True:
            sink.advance(int(time.time() * 1000))
            if self.recorder is not None:  # quiet feeds' lines reach the file within a second
                self.recorder.flush_if_due()
                report_recording(self.recorder, sink)
            await asyncio.sleep(1.0)

    async def _run_exchange(
        self,
        name: str,
        parser: ExchangeParser,
        sink: EventSink,
        session: aiohttp.ClientSession,
    ) -> None:
        health = sink.feed(name)
        spec = registry.get(name)
        endpoint = self.settings.exchanges[name]
        budget = self.budgets.get(name)
        if budget is None:
            budget = self.budgets[name] = RestBudget(
                spec.rest_limit, self.settings.feeds.rest_share, self.clock
            )
        listed, listed_by = await self._listing(spec, parser, sink, session, budget)
        if listed is not None:
            health.unlisted = tuple(
                sorted({*health.unlisted, *(s for s in self.symbols if s not in listed)})
            )
        symbols = [s for s in self.symbols if s not in health.unlisted]
        plan: FeedPlan = spec.plan(symbols, endpoint, self.settings.feeds)
        health.note = plan.note
        for startup in plan.startup:  # metadata first (contract sizes), retried until it arrives
            if startup.endpoint == listed_by:
                continue  # the listing was this request, and delivered
            poller = self._poller(startup, parser, sink, session, budget, backoff=self.backoff)
            while True:
                await poller.poll_once()
                if poller.failures == 0:
                    break
                health.state = "down"
                health.failures += 1
                delay = self.backoff.delay(poller.failures, self.rng)
                health.next_retry_ms = int(time.time() * 1000) + round(delay * 1000)
                await asyncio.sleep(delay)
            health.next_retry_ms = None
        jobs = []
        for i, stream in enumerate(plan.streams):
            client = StreamClient(
                stream, parser, sink, session, recorder=self.recorder, backoff=self.backoff,
                rng=self.rng,
            )  # fmt: skip
            self.clients.append(client)
            jobs.append(_after(i * CONNECT_SPACING_S, client.run))
        # The planned polls must fit the exchange's REST budget: stretch their intervals.
        demand = sum(p.weight / p.interval_s for p in plan.polls if p.interval_s > 0)
        stretch = health.poll_stretch = budget.stretch(demand)
        for poll in plan.polls:
            if poll.interval_s > 0:
                poll = dataclasses.replace(poll, interval_s=poll.interval_s * stretch)
            poller = self._poller(poll, parser, sink, session, budget)
            self.pollers.append(poller)
            jobs.append(poller.run())
        self._planned.add(name)
        if not plan.streams:
            health.state = "connected" if plan.polls else "down"
        await asyncio.gather(*jobs)

    def _poller(
        self,
        spec: PollSpec,
        parser: ExchangeParser,
        sink: EventSink,
        session: aiohttp.ClientSession,
        budget: RestBudget,
        *,
        backoff: Backoff | None = None,
    ) -> RestPoller:
        return RestPoller(
            spec, parser, sink, session, recorder=self.recorder, rng=self.rng, backoff=backoff,
            budget=budget, clock=self.clock,
        )  # fmt: skip

    async def _listing(
        self,
        exchange: ExchangeSpec,
        parser: ExchangeParser,
        sink: EventSink,
        session: aiohttp.ClientSession,
        budget: RestBudget,
    ) -> tuple[frozenset[str] | None, str | None]:
        """The markets `name` lists (None: unknown, subscribe every watched market) and the
        endpoint of the listing when it was delivered as market data (OKX's instruments).
        A listing is kept for the session; one that failed is asked again at the next plan
        (a market picked later), and meanwhile the exchange's refusals stand in for it."""
        name = exchange.id
        spec = exchange.listing(self.settings.exchanges[name])
        delivered = spec.endpoint if spec.deliver else None
        if name in self._listings:
            return self._listings[name], delivered
        health = sink.feed(name)
        poller = self._poller(spec, parser, sink, session, budget)
        msg, _ = await poller.fetch()
        if msg is NOTHING:
            health.failures += 1
            return None, None
        poller.handle(msg)  # OKX: contract sizes, recorded (a listing only: nothing)
        try:
            listed = exchange.listed_markets(msg)
        except ParseError as exc:
            health.last_error = f"{spec.endpoint}: {exc}"[:200]
            return None, None
        if listed is not None:
            self._listings[name] = listed
        return listed, delivered


async def _after(delay_s: float, job: Callable[[], Awaitable[None]]) -> None:
    await asyncio.sleep(delay_s)
    await job()


async def _cancel(tasks: Sequence[asyncio.Task[Any]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
