"""Backfill: the public REST history of one market on one exchange, as normalized events.

Each exchange's spec says what it offers (`ExchangeSpec.history`, docs/exchanges.md "History"):
a few series (funding, open interest, 1m klines), each with its page size, spacing and how far
back the exchange serves it. `Backfill.fetch` walks each series over the asked range in
windows of one page, within the exchange's REST budget (the one live polling spends: the caller
passes LiveSource's budgets), and turns every answer into events with the exchange's own parser
(`parser.rest(endpoint, answer)`), exactly as a recorded REST line is replayed. So a recording
of the answers (`recorder`: one REST line per answer, docs/recording.md) replays to the same
events.

Paging: a window [a, b] of item times is asked for at once (with the exchange's cursor when it
pages by cursor). An answer with fewer items than the window holds while it does not reach the
window's edges (a page the exchange cut short) is followed by requests for the missing edges; a
gap inside a window (the exchange has no data there) stays a gap. 429/418, 5xx, timeouts and
connection errors are retried with backoff (at least the server's Retry-After) up to
`MAX_TRIES` times; a window that still fails leaves the result partial (`complete` False, one
line in `error`) and the other windows go on. Nothing here raises on what an exchange sends.

Time: `clock` paces the budget and the retries (tests run it faster); the exchanges' caps
("the last 30 days") are measured on the wall clock.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import aiohttp

from liqtui import exchanges as registry
from liqtui.events import MarketEvent, OpenInterest
from liqtui.exchanges.spec import (
    ExchangeParser,
    HistoryRequest,
    HistorySeries,
    NotTracked,
    ParseError,
    PartlyBad,
)
from liqtui.feeds.backfilled import _tidy, is_history, tidy
from liqtui.feeds.budget import Clock, RestBudget
from liqtui.feeds.stream import Backoff, _retry_after
from liqtui.markets import SymbolError, exchange_symbol

if TYPE_CHECKING:
    from liqtui.config import Settings
    from liqtui.feeds.recording import Recorder

MAX_TRIES = 5  # per request: the first try and four retries
TIMEOUT_S = 15.0  # per request
RETRY = Backoff(initial_s=1.0, cap_s=30.0)
_NOTHING = object()


@dataclass
class BackfillResult:
    events: list[MarketEvent]  # time-ordered, normalized (market units), deduplicated
    requests: int
    complete: bool  # False: some pages failed after retries (partial)
    error: str | None  # one line for the status/health ("okx: 429 after 5 tries")
    covered_from_ms: int | None  # earliest time actually covered (capped by the exchange)


def _wall_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class _Run:
    """One fetch's state: what it found, what it cost, what failed."""

    exchange: str
    symbol: str
    parser: ExchangeParser
    progress: Callable[[float], None] | None
    windows: int = 0  # planned
    done: int = 0
    requests: int = 0
    bad_items: int = 0
    failed: int = 0
    error: str | None = None

    def __post_init__(self) -> None:
        self.events: list[MarketEvent] = []

    def fail(self, series: HistorySeries, why: str) -> None:
        self.failed += 1
        if self.error is None:
            self.error = f"{self.exchange}: {why} ({series.kind})"[:200]

    def step(self) -> None:
        self.done += 1
        if self.progress is not None and self.windows:
            self.progress(min(self.done / self.windows, 1.0))


class Backfill:
    """Fetches public history; one instance serves every exchange and market of a session."""

    def __init__(
        self,
        settings: Settings,
        session: aiohttp.ClientSession,
        budgets: Mapping[str, RestBudget],
        *,
        recorder: Recorder | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.settings = settings
        self.session = session
        self.budgets = budgets
        self.recorder = recorder
        self.clock = clock or Clock()
        self.rng = random.Random()
        self.wall_ms: Callable[[], int] = _wall_ms
        self._own_budgets: dict[str, RestBudget] = {}

    def available_ms(self, exchange: str) -> int | None:
        """How far back the exchange's open-interest history goes (None: it has none, or the
        exchange is unknown)."""
        spec = registry.find(exchange)
        return None if spec is None else spec.history.open_interest_lookback_ms

    def _budget(self, exchange: str) -> RestBudget:
        budget = self.budgets.get(exchange) or self._own_budgets.get(exchange)
        if budget is None:
            spec = registry.get(exchange)
            budget = self._own_budgets[exchange] = RestBudget(
                spec.rest_limit, self.settings.feeds.rest_share, self.clock
            )
        return budget

    async def fetch(
        self,
        exchange: str,
        market: str,
        since_ms: int,
        until_ms: int,
        progress: Callable[[float], None] | None = None,
    ) -> BackfillResult:
        """The history of `market` on `exchange` for [since_ms, until_ms), capped by what the
        exchange serves. Never raises on what the exchange answers (a bug is reported too)."""
        spec = registry.find(exchange)
        if spec is None:
            return BackfillResult([], 0, False, f"{exchange}: unknown exchange", None)
        plan = spec.history
        if not plan.series:
            return BackfillResult([], 0, True, None, None)
        try:
            symbol = exchange_symbol(exchange, market)
        except SymbolError as exc:
            return BackfillResult([], 0, False, f"{exchange}: {exc}"[:200], None)
        run = _Run(exchange, symbol, spec.parser(), progress)
        now = self.wall_ms()
        ranges = [(s, *self._range(s, since_ms, until_ms, now)) for s in plan.series]
        run.windows = sum(len(_windows(s, lo, hi)) for s, lo, hi in ranges)
        try:
            for series, lo, hi in ranges:
                for start, end in _windows(series, lo, hi):
                    await self._window(run, series, start, end)
                    run.step()
        except Exception as exc:  # a bug must not take the caller down: partial, reported
            run.failed += 1
            run.error = f"{exchange}: {type(exc).__name__}: {exc}"[:200]
        events = _tidy(run.events)
        oi = [e.time_ms for e in events if isinstance(e, OpenInterest)]
        covered = min(oi) if oi else (events[0].time_ms if events else None)
        if progress is not None:
            progress(1.0)
        return BackfillResult(events, run.requests, run.failed == 0, run.error, covered)

    def _range(self, series: HistorySeries, since: int, until: int, now: int) -> tuple[int, int]:
        """Item times [lo, hi] to ask for: within what the exchange serves, closed bars only."""
        lo = since
        if series.lookback_ms is not None:  # a step inside the cap: the edge moves meanwhile
            lo = max(lo, now - series.lookback_ms + series.step_ms)
        hi = min(until, now) - 1
        if series.kind == "klines":
            hi = min(hi, now - series.step_ms)  # the bar still open is not history yet
        return lo, hi

    async def _window(self, run: _Run, series: HistorySeries, start: int, end: int) -> None:
        """Every item of [start, end]: one request, then the exchange's cursor, or requests for
        the edges a short page left out (each strictly smaller: it ends)."""
        pending: list[tuple[int, int, str | None]] = [(start, end, None)]
        budget = _slots(series, start, end) + 2  # every page brings an item: a cursor loop ends
        while pending and budget > 0:
            budget -= 1
            a, b, cursor = pending.pop()
            request = series.request(run.symbol, a, b, cursor)
            msg = await self._get(run, series, request)
            if msg is _NOTHING:
                continue
            self._deliver(run, request, msg)
            page = series.page(msg)
            if page.error is not None:
                run.fail(series, page.error)
                continue
            times = [t for t in page.times if a <= t <= b]
            if not times:
                continue  # nothing there: a gap, or before the market existed
            if page.cursor:
                pending.append((a, b, page.cursor))
                continue
            if len(times) >= _slots(series, a, b):
                continue
            if not series.dense and len(page.times) < series.page_items:
                continue  # sparse items (funding): only a full page may have been cut
            first, last = min(times), max(times)  # a short page: ask for the edges it missed
            if b - last >= series.step_ms:
                pending.append((last + 1, b, None))
            if first - a >= series.step_ms:
                pending.append((a, first - 1, None))

    async def _get(self, run: _Run, series: HistorySeries, request: HistoryRequest) -> object:
        """The decoded answer (retried within the budget), or _NOTHING after MAX_TRIES."""
        endpoint = self.settings.exchanges[run.exchange]
        base = endpoint.rest_url.rstrip("/")
        path = request.endpoint if request.method == "GET" else request.endpoint.split("?")[0]
        url = f"{base}{path}"
        budget = self._budget(run.exchange)
        why = ""
        for attempt in range(1, MAX_TRIES + 1):
            await budget.acquire(request.weight)
            run.requests += 1
            wait = RETRY.delay(attempt, self.rng)
            try:
                async with self.session.request(
                    request.method, url, json=request.body,
                    timeout=aiohttp.ClientTimeout(total=TIMEOUT_S),
                ) as resp:  # fmt: skip
                    body = await resp.text()
                    status = resp.status
                    retry_after = _retry_after(resp.headers.get("Retry-After"))
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                why = str(exc) or type(exc).__name__
            else:
                if status in (418, 429) or status >= 500:
                    why = f"HTTP {status}"
                    wait = max(wait, retry_after)
                else:
                    try:
                        return json.loads(body)  # a 4xx JSON answer names the exchange's error
                    except (ValueError, RecursionError):
                        run.fail(series, f"HTTP {status}, not JSON")
                        return _NOTHING
            if attempt < MAX_TRIES:
                await self.clock.sleep(wait)
        run.fail(series, f"{why} after {MAX_TRIES} tries")
        return _NOTHING

    def _deliver(self, run: _Run, request: HistoryRequest, msg: object) -> None:
        """Record the answer as a REST line, then parse it as replay will."""
        if self.recorder is not None:
            self.recorder.write(run.exchange, msg, t=self.wall_ms(), rest=request.endpoint)
        try:
            events = run.parser.rest(request.endpoint, msg) or []
        except PartlyBad as exc:
            run.bad_items += len(exc.errors)
            events = exc.events
        except (ParseError, NotTracked):
            events = []  # the page's error (if any) is reported by series.page
        run.events.extend(events)


def _slots(series: HistorySeries, start: int, end: int) -> int:
    """How many item times (multiples of the step) [start, end] holds."""
    step = series.step_ms
    return max(end // step - (start - 1) // step, 0)


def _windows(series: HistorySeries, lo: int, hi: int) -> list[tuple[int, int]]:
    """[lo, hi] in windows of one page each, starting on the step."""
    step = series.step_ms
    start = -(-lo // step) * step
    span = series.page_items * step
    out = []
    while start <= hi:
        out.append((start, min(start + span - 1, hi)))
        start += span
    return out


__all__ = ["Backfill", "BackfillResult", "is_history", "tidy"]
