"""A live start's history (issue 15): the local store first, then the REST backfill of what the
store lacks, beside the live streams; and every live event written to the store.

Per watched market (the initial ones, and every market picked later):
1. The store's rows of the market (every exchange) are read off the event loop: the newest
   model window first (the realized window and the recent map: the map is full at once), then
   the rest of the history span (`feeds.backfill`, at least the window, at most the retention).
2. Per exchange, the gaps in the stored minutes of the last `feeds.backfill` are fetched from
   the exchange's public REST history (liqtui.feeds.backfill), no further back than the
   exchange keeps open interest (`available_ms`). An exchange without open-interest history
   (Hyperliquid) is not asked: its estimate comes from the store only, and its health says so.
   Backfilled events are written to the store, so the next start asks only for what is new.
3. Each time a piece arrives the market is rebuilt from everything it has so far.

The engine's clock is one for every market (`advance` steps every market at each interval
boundary) and never runs backwards. Once live data of any market has moved it to the present, a
market's past can no longer be applied to it. So the history is not applied to the live engine:
it is applied to a fork of the engine (same parameters, a clock of its own) the way a replay
applies it (advance to each event's time, then apply), then the market's own live events that
arrived meanwhile (logged with the clock they arrived at) are applied after it, in their order,
and the market's model is swapped into the live engine (`HistoryHost.fork` / `adopt`). Holding
the streams back until the history is in (the other choice) would hold every market's live
data back behind the slowest backfill; buffering a market's live events instead of applying
them would leave the market blank while it loads. With the log, live data is never held back:
every event goes to the engine as it arrives (the market shows live data at once), loading one
market never touches another, and the map after the swap equals a replay of history + live.

A failed or partial backfill is shown per exchange (`FeedHealth.history`, `history_note`) and
never stops live data; progress is in FeedHealth (`history_markets`, `history_progress`, shown
by the status line as "history BTC 2/3 exchanges, 62%").
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

from liqtui.events import MarketEvent
from liqtui.health import FeedHealth
from liqtui.source import EventSink, HistoryHost
from liqtui.store.minutes import MINUTE_MS, events_from_rows

if TYPE_CHECKING:
    import aiohttp

    from liqtui.config import Settings
    from liqtui.feeds.backfill import BackfillResult
    from liqtui.feeds.budget import Clock, RestBudget
    from liqtui.feeds.recording import Recorder
    from liqtui.store import MinuteRow, Store

GAP_MS = 10 * MINUTE_MS  # stored minutes further apart than this are a gap to backfill
MAX_GAPS = 6  # gaps backfilled per exchange and market; more: one span over them
STORE_WRITE_S = 0.5  # live events are handed to the store this often
REBUILD_DELAY_S = 0.2  # pieces arriving this close together are built in one go
HISTORY_FAILED, HISTORY_PARTIAL, HISTORY_STORE = "failed", "partial", "store"
_RANK = {"done": 0, HISTORY_STORE: 1, HISTORY_PARTIAL: 2, HISTORY_FAILED: 3, "loading": 4}


class Backfiller(Protocol):
    """The interface of liqtui.feeds.backfill.Backfill."""

    def available_ms(self, exchange: str) -> int | None:
        """How far back the exchange keeps open-interest history (None: none at all)."""
        ...

    async def fetch(
        self,
        exchange: str,
        market: str,
        since_ms: int,
        until_ms: int,
        progress: Callable[..., None] | None = None,
    ) -> BackfillResult: ...


MakeBackfill = Callable[..., "Backfiller | None"]


def default_backfill(
    settings: Settings,
    session: aiohttp.ClientSession,
    budgets: Mapping[str, RestBudget],
    *,
    recorder: Recorder | None = None,
    clock: Clock | None = None,
) -> Backfiller:
    """liqtui.feeds.backfill.Backfill: the exchanges' public REST history."""
    from liqtui.feeds.backfill import Backfill

    return Backfill(settings, session, budgets, recorder=recorder, clock=clock)


@dataclass(frozen=True, slots=True)
class HistoryOptions:
    """What a live start loads: the store in `store_dir` (None: no store) and `backfill_ms`
    of history (0: no backfill); the store is read back `max(backfill_ms, window_ms)`."""

    store_dir: Path | None
    backfill_ms: int
    retention_ms: int
    window_ms: int
    make_backfill: MakeBackfill | None = default_backfill
    lock_timeout_s: float = 10.0

    @classmethod
    def from_settings(
        cls, settings: Settings, store_dir: Path | None, *, window_ms: int | None = None
    ) -> HistoryOptions:
        from liqtui.config import parse_duration

        backfill = settings.feeds.backfill
        return cls(
            store_dir=store_dir,
            backfill_ms=0 if backfill == "0s" else parse_duration(backfill),
            retention_ms=parse_duration(settings.store.retention),
            window_ms=window_ms or parse_duration(settings.model.window),
        )

    @property
    def span_ms(self) -> int:
        """How far back the store is read."""
        return min(max(self.backfill_ms, self.window_ms), self.retention_ms)


@dataclass(slots=True)
class _Market:
    """One market's history while it loads."""

    symbol: str
    since_ms: int  # the history asked for starts here
    until_ms: int  # and ends here (the load's start): live data follows
    pieces: list[list[MarketEvent]] = field(default_factory=list)
    applied: int = 0  # of `pieces`, how many the engine holds (the last adopted build's)
    live: list[tuple[int, MarketEvent]] = field(default_factory=list)  # (clock, event)
    waiting: int = 0  # pieces still to come
    dirty: bool = False
    builds: int = 0
    builder: asyncio.Task[None] | None = None
    stored: dict[str, list[int]] = field(default_factory=dict)  # exchange → stored minutes
    store_upto: int | None = None  # pieces the store gave (None: still reading it)
    # Set when the market shows its recent history (built and adopted, or none stored).
    first: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass(slots=True)
class _Fetch:
    """One exchange's backfill of one market (or its store-only history)."""

    state: str = "loading"
    progress: float = 0.0
    note: str = ""
    # The market's pieces the engine must hold before this history counts as in: it is not
    # "done" when its answer is received but when the build holding it is adopted (None: its
    # piece has not come yet).
    upto: int | None = None


class Preloader:
    """The history and the store of one live source (see the module doc)."""

    def __init__(
        self,
        settings: Settings,
        options: HistoryOptions,
        *,
        recorder: Recorder | None = None,
        clock: Clock | None = None,
        warn: Callable[[str], None] | None = None,
        now_ms: Callable[[], int] | None = None,
    ) -> None:
        self.settings = settings
        self.options = options
        self.recorder = recorder
        self.clock = clock
        self.warn = warn or (lambda message: None)
        self.now_ms = now_ms or (lambda: int(time.time() * 1000))
        self.store: Store | None = None
        self.backfill: Backfiller | None = None
        self.exchanges: list[str] = list(settings.feeds.exchanges)
        self.markets: dict[str, _Market] = {}
        self.fetches: dict[tuple[str, str], _Fetch] = {}  # (exchange, market) → its backfill
        self.loaded: set[str] = set()  # markets whose history is in
        self.builds = 0  # rebuilds adopted (for tests and benchmarks)
        self._host: HistoryHost | None = None  # forks and adopts (None: history not applied)
        self._sink: _StoringSink | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._started = False
        self._idle = asyncio.Event()
        self._idle.set()
        self._opened = asyncio.Event()  # the store is open (or there is none)
        self._closed = False

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(
        self,
        sink: EventSink,
        session: aiohttp.ClientSession,
        budgets: Mapping[str, RestBudget],
        symbols: Sequence[str],
    ) -> EventSink:
        """Start opening the store (off the loop) and loading `symbols`; returns at once with
        the sink live events go to (it writes them to the store and logs those of loading
        markets). Neither the store nor the history holds the streams back."""
        if self.options.backfill_ms > 0 and self.options.make_backfill is not None:
            self.backfill = self.options.make_backfill(
                self.settings, session, budgets, recorder=self.recorder, clock=self.clock
            )
        has_fork = callable(getattr(sink, "fork", None)) and callable(getattr(sink, "adopt", None))
        self._host = cast("HistoryHost", sink) if has_fork else None
        self._sink = _StoringSink(sink, self)
        self._started = True
        self._spawn(self._open())
        self._spawn(self._write_loop())
        for symbol in symbols:
            self.watch(symbol)
        return self._sink

    async def _open(self) -> None:
        try:
            if self.store is None and self.options.store_dir is not None:
                from liqtui.store import open_store

                self.store = await asyncio.to_thread(
                    open_store,
                    self.options.store_dir,
                    retention_ms=self.options.retention_ms,
                    lock_timeout_s=self.options.lock_timeout_s,
                )
                if self.store.warning:
                    self.warn(self.store.warning)
        finally:
            self._opened.set()

    def watch(self, symbol: str) -> None:
        """Load `symbol`'s history (once per run; before start(): when it starts)."""
        if not self._started or symbol in self.markets or symbol in self.loaded:
            return
        now = self.now_ms()
        market = _Market(symbol, since_ms=now - self.options.span_ms, until_ms=now)
        self.markets[symbol] = market
        self._idle.clear()
        self._spawn(self._load(market))

    @property
    def started(self) -> bool:
        """start() was called: the markets given to it are watched."""
        return self._started

    @property
    def opened(self) -> bool:
        return self._opened.is_set()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def store_loading(self) -> bool:
        """Some market's stored history is not in the engine yet. It is local, so it is waited
        for even when every exchange is unreachable (a restart offline shows what was kept)."""
        return any(m.store_upto is None or m.applied < m.store_upto for m in self.markets.values())

    @property
    def idle(self) -> bool:
        """Every watched market's history is in (or failed)."""
        return self._idle.is_set()

    async def wait_idle(self) -> None:
        await self._idle.wait()

    async def stop(self) -> None:
        """Stop loading, hand what is pending to the store and close it (flush)."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self.close_store()

    def close_store(self) -> None:
        """Write what is pending and close the store (safe to call twice, from a signal path)."""
        if self._closed:
            return
        self._closed = True
        if self._sink is not None:
            self._sink.hand_over()
        if self.store is not None:
            self.store.close()

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _write_loop(self) -> None:
        while True:
            await asyncio.sleep(STORE_WRITE_S)
            if self._sink is not None:
                self._sink.hand_over()

    # -- loading one market -------------------------------------------------------------------
    async def _load(self, market: _Market) -> None:
        symbol = market.symbol
        try:
            await self._opened.wait()
            backfilled = self._backfill_exchanges(symbol)
            market.waiting = 2 + len(backfilled)  # the store's recent part and the rest
            for exchange in backfilled:
                self.fetches[(exchange, symbol)] = _Fetch()
            self._publish()
            window_from = max(market.until_ms - self.options.window_ms, market.since_ms)
            await self._load_stored(market, window_from, market.until_ms)
            if market.builder is None:
                market.first.set()  # nothing stored of late
            # Every loading market shows its recent history before older history is read (the
            # map is full at once; the rest refines it).
            for other in list(self.markets.values()):
                await other.first.wait()
            await self._load_stored(market, market.since_ms, window_from)
            market.store_upto = len(market.pieces)
            for exchange in self.exchanges:  # store-only exchanges: the store part is all
                fetch = self.fetches.get((exchange, symbol))
                if fetch is not None and exchange not in backfilled:
                    fetch.upto = len(market.pieces)
            self._publish()
            await asyncio.gather(*(self._fetch(market, ex) for ex in backfilled))
            if market.builder is not None:
                await market.builder
        except asyncio.CancelledError:
            if market.builder is not None:
                market.builder.cancel()
            raise
        finally:
            self._finish(market)

    def _backfill_exchanges(self, symbol: str) -> list[str]:
        """The exchanges asked for `symbol`'s history; the others' health says why not."""
        out: list[str] = []
        if self.options.backfill_ms <= 0:
            return out
        for exchange in self.exchanges:
            key = (exchange, symbol)
            if self.backfill is None:
                self.fetches[key] = _Fetch(HISTORY_STORE, 1.0, "no backfill: from the store only")
            elif self.backfill.available_ms(exchange) is None:
                why = "no open-interest history: its estimate comes from the store only"
                self.fetches[key] = _Fetch(HISTORY_STORE, 1.0, why)
            else:
                out.append(exchange)
        return out

    async def _load_stored(self, market: _Market, start_ms: int, end_ms: int) -> None:
        store = self.store
        if store is None or not store.available or end_ms <= start_ms:
            self._add_piece(market, [])
            return
        # The minute in progress is left out of the minute rows: this run's live data covers
        # it (its closing kline would count the minute's taker flow twice). Not of the prints:
        # no exchange sends a past print again, and the engine drops one it already holds.
        end = end_ms - end_ms % MINUTE_MS

        def read() -> tuple[list[MinuteRow], list[MarketEvent]]:
            rows = store.minutes(start_ms, end, symbols=[market.symbol])
            prints = store.prints(start_ms, end_ms, symbols=[market.symbol])
            return rows, events_from_rows(rows, prints)

        try:
            rows, events = await asyncio.to_thread(read)
        except Exception as exc:  # a store that fails while reading: no history from it
            self.warn(f"store: reading {market.symbol} failed: {exc}")
            rows, events = [], []
        for row in rows:
            market.stored.setdefault(row.exchange, []).append(row.minute_ms)
        self._add_piece(market, events)

    async def _fetch(self, market: _Market, exchange: str) -> None:
        """Backfill the gaps of one exchange's stored minutes; never raises."""
        assert self.backfill is not None
        symbol = market.symbol
        state = self.fetches[(exchange, symbol)]
        available = self.backfill.available_ms(exchange) or 0
        start = market.until_ms - min(self.options.backfill_ms, available)
        gaps = find_gaps(sorted(market.stored.get(exchange, [])), start, market.until_ms)
        events: list[MarketEvent] = []
        total = sum(b - a for a, b in gaps) or 1
        done, errors, complete = 0, [], True

        def progress(*args: float) -> None:
            part = args[0] / args[1] if len(args) >= 2 and args[1] else (args[0] if args else 0)
            state.progress = min(max((done + part * (b - a)) / total, 0.0), 1.0)
            self._publish()

        for a, b in gaps:
            health = self._health(exchange)
            if health is not None and symbol in health.unlisted:
                state.state, state.note = HISTORY_FAILED, f"{symbol} not listed"
                break
            try:
                result = await self.backfill.fetch(exchange, symbol, a, b, progress=progress)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a backfill bug must not take live data down
                errors.append(f"{type(exc).__name__}: {exc}")
                complete = False
                continue
            finally:
                done += b - a
            events.extend(result.events)
            complete = complete and result.complete and result.error is None
            if result.error:
                errors.append(result.error)
        if state.state == "loading":
            if complete:
                state.state, state.note = "done", ""
            elif events:
                state.state = HISTORY_PARTIAL
                state.note = (errors[-1] if errors else "incomplete")[:120]
            else:
                state.state = HISTORY_FAILED
                state.note = (errors[-1] if errors else "nothing received")[:120]
        state.progress = 1.0
        if events and self.store is not None:
            self.store.write(events)
        self._add_piece(market, sorted(events, key=lambda ev: ev.time_ms), state)

    def _add_piece(
        self, market: _Market, events: list[MarketEvent], fetch: _Fetch | None = None
    ) -> None:
        market.waiting -= 1
        if events:
            market.pieces.append(events)
            market.dirty = True
            if market.builder is None or market.builder.done():
                market.builder = asyncio.ensure_future(self._build(market))
        if fetch is not None:
            fetch.upto = len(market.pieces)  # in once the engine holds every piece so far
        self._publish()

    async def _build(self, market: _Market) -> None:
        """Rebuild the market from its pieces and its live log, until nothing new came."""
        try:
            await self._rebuild(market)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not take live data down: say it, go on
            market.dirty = False
            market.applied = len(market.pieces)  # nothing more will come of these pieces
            market.first.set()
            self._publish()
            self.warn(f"history of {market.symbol}: {type(exc).__name__}: {exc}")

    async def _rebuild(self, market: _Market) -> None:
        host = self._host
        if host is None:
            market.dirty = False
            market.applied = len(market.pieces)
            market.first.set()
            self._publish()
            return
        while market.dirty:
            if market.builds and market.waiting:
                await asyncio.sleep(REBUILD_DELAY_S)  # more pieces may be on their way
            market.dirty = False
            pieces = list(market.pieces)
            logged = len(market.live)
            live = market.live[:logged]
            fork = host.fork()
            await asyncio.to_thread(replay_into, fork, pieces, live)
            for clock, event in market.live[logged:]:  # what arrived while it was built
                fork.advance(clock)
                fork.apply(event)
            if self._sink is not None:
                fork.advance(self._sink.clock_ms)
            host.adopt(market.symbol, fork)
            market.applied = len(pieces)
            market.first.set()
            market.builds += 1
            self.builds += 1
            self._publish()

    def _finish(self, market: _Market) -> None:
        market.first.set()
        market.live.clear()
        self.markets.pop(market.symbol, None)
        self.loaded.add(market.symbol)
        self._publish()
        if not self.markets:
            self._idle.set()

    # -- health -------------------------------------------------------------------------------
    def _health(self, exchange: str) -> FeedHealth | None:
        return self._sink.inner.feed(exchange) if self._sink is not None else None

    def _publish(self) -> None:
        """Each exchange's history state into its FeedHealth."""
        for exchange in self.exchanges:
            health = self._health(exchange)
            if health is None:
                continue
            mine = {m: f for (ex, m), f in self.fetches.items() if ex == exchange}
            # The store part of a market still loading counts as loading on every exchange, and
            # an exchange's history until the engine holds it (not when its answer came).
            loading = sorted(
                m
                for m, market in self.markets.items()
                if m not in mine or _pending(market, mine[m])
            )
            if loading:
                health.history = "loading"
            elif mine:
                health.history = max((f.state for f in mine.values()), key=_RANK.__getitem__)
            else:
                health.history = "done" if self.loaded else ""
            health.history_markets = tuple(loading)
            fetches = [mine.get(m) for m in {*mine, *self.markets}]
            shares = [f.progress if f is not None else 0.0 for f in fetches]
            health.history_progress = sum(shares) / len(shares) if shares else 1.0
            notes = [f.note for f in mine.values() if f.note and f.state != "loading"]
            health.history_note = notes[-1] if notes else ""


def _pending(market: _Market, fetch: _Fetch) -> bool:
    """The exchange's history of the (still loading) market is not in the engine yet."""
    return fetch.state == "loading" or fetch.upto is None or market.applied < fetch.upto


def find_gaps(minutes: Sequence[int], start_ms: int, end_ms: int) -> list[tuple[int, int]]:
    """The spans of [start_ms, end_ms) that the stored `minutes` (sorted minute starts) leave
    uncovered for more than GAP_MS; at most MAX_GAPS (more: one span from the first to the
    last)."""
    gaps: list[tuple[int, int]] = []
    cursor = start_ms - start_ms % MINUTE_MS
    for minute in minutes:
        if minute < cursor:
            continue
        if minute >= end_ms:
            break
        if minute - cursor > GAP_MS:
            gaps.append((cursor, minute))
        cursor = minute + MINUTE_MS
    if end_ms - cursor > GAP_MS:
        gaps.append((cursor, end_ms))
    if len(gaps) > MAX_GAPS:
        gaps = [(gaps[0][0], gaps[-1][1])]
    return gaps


def replay_into(
    sink: EventSink, pieces: Iterable[list[MarketEvent]], live: Iterable[tuple[int, MarketEvent]]
) -> None:
    """Apply history (pieces of events, merged in time order) then logged live events to
    `sink` the way a replay does: the clock to each event's time first, then the event."""
    history = sorted((ev for piece in pieces for ev in piece), key=lambda ev: ev.time_ms)
    for event in history:
        sink.advance(event.time_ms)
        sink.apply(event)
    for clock, event in live:
        sink.advance(clock)
        sink.apply(event)


class _StoringSink:
    """The sink live events go to: the engine (or the UI's sink in front of it), and the store;
    the events of a market whose history is loading are logged for its rebuild."""

    def __init__(self, inner: EventSink, preloader: Preloader) -> None:
        self.inner = inner
        self.preloader = preloader
        self.clock_ms = 0
        self._pending: list[MarketEvent] = []

    def apply(self, event: MarketEvent) -> bool | None:
        applied = self.inner.apply(event)
        if applied is False:
            return False
        self._pending.append(event)
        market = self.preloader.markets.get(event.symbol)
        if market is not None:
            market.live.append((self.clock_ms, event))
        return applied

    def advance(self, now_ms: int) -> None:
        if now_ms > self.clock_ms:
            self.clock_ms = now_ms
        self.inner.advance(now_ms)

    def feed(self, name: str) -> FeedHealth:
        return self.inner.feed(name)

    def hand_over(self) -> None:
        """Queue the live events received since the last call for the store (kept until the
        store is open)."""
        if self._pending and (self.preloader.opened or self.preloader.closed):
            pending, self._pending = self._pending, []
            store = self.preloader.store
            if store is not None:
                store.write(pending)

    def __getattr__(self, name: str) -> object:  # anything else a source may use
        return getattr(self.inner, name)
