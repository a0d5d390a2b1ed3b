"""Keeping a public WebSocket stream and a REST poll healthy for days.

`StreamClient` connects, subscribes, reads, and reconnects with capped exponential backoff and
jitter after a drop, a server close, a failed heartbeat or a silent stream. A connection older
than `max_age_s` (Binance closes them at 24 h), one the server says it will close soon (OKX's
64008 notice), or one whose subscriptions the exchange partly refused, is replaced by a new one
that overlaps it: the old one is closed 1 s after the new one has delivered data (an ack is
not enough), so nothing is missed, and the model's dedupe counts the overlap once. `RestPoller`
polls an endpoint at its own pace (the next request is scheduled when the previous one
finished), spends the exchange's shared REST budget (liqtui.feeds.budget) and honours 429
Retry-After.

Sessions trust the environment (HTTPS_PROXY, HTTP_PROXY, NO_PROXY); WebSocket connections use
the proxy of their scheme (WSS_PROXY, WS_PROXY) or else that of the matching HTTP scheme.

Every received message goes through the exchange's pure parser — the same one replay uses —
and, when recording, into the recording first. A bad message is counted and skipped.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import json
import random
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from liqtui.exchanges.spec import ExchangeParser, Frame, PollSpec, StreamSpec, decoded
from liqtui.exchanges.spec import frame_message as spec_frame_message
from liqtui.feeds.budget import Clock, RestBudget
from liqtui.feeds.dispatch import deliver
from liqtui.feeds.recording import Recorder
from liqtui.source import EventSink


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 0.5
    cap_s: float = 30.0
    factor: float = 2.0
    jitter: float = 0.3  # ± fraction

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.cap_s, self.initial_s * self.factor ** max(attempt - 1, 0))
        return base * (1.0 + rng.uniform(-self.jitter, self.jitter))


def _encode(frame: Frame) -> str:
    return frame if isinstance(frame, str) else json.dumps(frame, separators=(",", ":"))


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")  # NaN/Infinity: not JSON, and not recordable


_FRAME_DECODER = json.JSONDecoder(parse_constant=_no_constant)  # one, not one per frame


def decode_frame(text: str) -> object:
    """A JSON frame as its object; anything else (OKX's "pong") as the string itself."""
    try:
        return _FRAME_DECODER.decode(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return text


def frame_message(text: str) -> object:
    """A frame as the parsers take it: `RawJSON` (decoded by the parser, only the fields it
    uses) when msgspec vouches for it, else as `decode_frame` gives it."""
    raw = spec_frame_message(text)
    return raw if raw is not None else decode_frame(text)


class _RateMeter:
    """Messages per second over the last few seconds, cheap per message."""

    def __init__(self, span_s: float = 5.0) -> None:
        self.span_s = span_s
        self._start = time.monotonic()
        self._count = 0
        self.rate = 0.0

    def tick(self) -> float:
        self._count += 1
        now = time.monotonic()
        elapsed = now - self._start
        if elapsed >= self.span_s:
            self.rate = self._count / elapsed
            self._start, self._count = now, 0
        return self.rate


def _wall_ms() -> int:
    return int(time.time() * 1000)


def ws_proxy(url: str) -> str | None:
    """The proxy for a WebSocket URL from the environment: WSS_PROXY / WS_PROXY, else
    HTTPS_PROXY / HTTP_PROXY (aiohttp looks up only the former), unless NO_PROXY covers it."""
    parts = urlsplit(url)
    # proxy_bypass_environment is CPython's (since 3.x), missing from typeshed.
    bypass = urllib.request.proxy_bypass_environment  # type: ignore[attr-defined]
    if parts.hostname and bypass(parts.hostname):
        return None
    proxies = urllib.request.getproxies_environment()
    http = {"ws": "http", "wss": "https"}.get(parts.scheme, parts.scheme)
    return proxies.get(parts.scheme) or proxies.get(http) or None


RENEW_MIN_AGE_S = 5.0  # a close notice renews a connection no younger than this (no storm)
# After the new connection's first data, the old one reads on this long: what it had in flight
# (sent before the new one subscribed) still arrives; the dedupe counts the overlap once.
HANDOVER_GRACE_S = 1.0


class _Connector:
    """What a stream client and a poller share: a parser, a sink, one HTTP session, the
    recorder, a backoff and the feed's health record."""

    def __init__(
        self,
        feed: str,
        parser: ExchangeParser,
        sink: EventSink,
        session: aiohttp.ClientSession,
        *,
        recorder: Recorder | None,
        backoff: Backoff,
        rng: random.Random | None,
        wall_ms: Callable[[], int],
    ) -> None:
        self.parser = parser
        self.sink = sink
        self.session = session
        self.recorder = recorder
        self.backoff = backoff
        self.rng = rng or random.Random()
        self.wall_ms = wall_ms
        self.health = sink.feed(feed)


class StreamClient(_Connector):
    def __init__(
        self,
        spec: StreamSpec,
        parser: ExchangeParser,
        sink: EventSink,
        session: aiohttp.ClientSession,
        *,
        recorder: Recorder | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        wall_ms: Callable[[], int] = _wall_ms,
    ) -> None:
        super().__init__(
            spec.feed, parser, sink, session, recorder=recorder, backoff=backoff or Backoff(),
            rng=rng, wall_ms=wall_ms,
        )  # fmt: skip
        self.spec = spec
        self.health.liquidations_complete = spec.liquidations_complete
        self.connections = 0  # successful connects, for tests and health
        self._rate = _RateMeter()
        self._closers: set[asyncio.Task[None]] = set()
        self._delivered = False  # the current connection delivered data
        self.delivering = asyncio.Event()  # set once any connection of this client delivered
        self.proxy = ws_proxy(spec.url) if session.trust_env else None

    async def run(self) -> None:
        handover: list[asyncio.Task[None] | None] = [None]
        try:
            await self._run(handover)
        finally:
            if handover[0] is not None:
                handover[0].cancel()

    async def _run(self, handover_box: list[asyncio.Task[None] | None]) -> None:
        attempt = 0
        handover: asyncio.Task[None] | None = None
        while True:
            handover_box[0] = handover
            self.health.state = "connecting" if self.connections == 0 else "reconnecting"
            try:
                # A server that accepts TCP but never answers the upgrade must not hang us.
                async with asyncio.timeout(min(10.0, self.spec.stale_after_s)):
                    ws = await self.session.ws_connect(
                        self.spec.url,
                        heartbeat=self.spec.ping_interval_s * 2,
                        autoping=True,
                        timeout=aiohttp.ClientWSTimeout(ws_close=2.0),
                        proxy=self.proxy,
                    )
            except (TimeoutError, aiohttp.ClientError, OSError) as exc:
                attempt += 1
                self.health.state = "down"
                self.health.last_error = f"connect failed: {exc.__class__.__name__}: {exc}"[:200]
                self.health.failures += 1
                await self._retry_after(self.backoff.delay(attempt, self.rng))
                continue
            self.connections += 1
            self.health.next_retry_ms = None
            self._delivered = False
            try:
                renew = await self._serve(ws, previous=handover)
            finally:
                handover = None
            if self._delivered:
                attempt = 0  # only a connection that delivered data resets the backoff
            if renew is not None:
                handover = renew  # the old connection keeps reading until the new one delivers
                continue
            attempt += 1
            self.health.reconnects += 1
            if not self._delivered:
                self.health.failures += 1  # accepted, then closed before any data
            if self.health.state != "stale":
                self.health.state = "reconnecting"
            await self._retry_after(self.backoff.delay(attempt, self.rng))

    async def _retry_after(self, delay_s: float) -> None:
        """Wait the backoff; health shows when the next attempt is due."""
        self.health.next_retry_ms = self.wall_ms() + round(delay_s * 1000)
        await asyncio.sleep(delay_s)

    def frames(self) -> list[str]:
        """The subscribe frames to send, without the markets the exchange refused so far."""
        spec = self.spec
        unlisted = frozenset(self.health.unlisted)
        frames = spec.subscribe
        if unlisted and spec.without is not None:
            frames = [f for f in (spec.without(f, unlisted) for f in frames) if f is not None]
        return [_encode(f) for f in frames]

    async def _serve(
        self, ws: aiohttp.ClientWebSocketResponse, *, previous: asyncio.Task[None] | None
    ) -> asyncio.Task[None] | None:
        """Read one connection. Returns a task still draining this connection when a planned
        renewal is due (the caller opens the next connection), else None after it ended."""
        spec = self.spec
        opened = time.monotonic()
        try:
            for frame in self.frames():
                await ws.send_str(frame)
        except (aiohttp.ClientError, ConnectionError) as exc:
            self.health.last_error = f"subscribe failed: {exc}"[:200]
            await ws.close()
            return None
        first = asyncio.Event()  # this connection delivered data: the previous one may close
        renewal_due = asyncio.Event()
        pinger = asyncio.create_task(self._ping(ws)) if spec.ping_frame is not None else None
        reader = asyncio.create_task(self._read(ws, first, renewal_due, opened))
        if previous is not None:
            # Close the previous connection once this one is delivering: no gap, no loss.
            self._closers.add(closer := asyncio.create_task(_close_after(first, previous)))
            closer.add_done_callback(self._closers.discard)
        renewal = asyncio.create_task(renewal_due.wait())
        try:
            done, _ = await asyncio.wait({reader, renewal}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:
            reader.cancel()  # the whole client is stopping
            if pinger is not None:
                pinger.cancel()
            raise
        finally:
            renewal.cancel()
            if pinger is not None and reader.done():
                pinger.cancel()
        if reader in done:
            if not reader.cancelled() and (failure := reader.exception()) is not None:
                self.health.last_error = f"reader failed: {type(failure).__name__}: {failure}"[:200]
            return None
        return reader  # planned renewal: keep draining until the successor delivers

    async def _read(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        first: asyncio.Event,
        renewal_due: asyncio.Event,
        opened: float,
    ) -> None:
        spec = self.spec
        # Staleness counts data, not traffic: pongs and acks alone do not keep a stream alive.
        # A watchdog checks it; a timeout per receive would cost more than parsing the message.
        last_data = [time.monotonic()]
        unlisted = self.health.unlisted  # a refusal adds to it: renew without those markets
        answered = False  # the server sent something on this connection
        stale = asyncio.Event()
        reader = asyncio.current_task()
        assert reader is not None
        watchdog = asyncio.create_task(self._watch(ws, last_data, stale, reader))
        try:
            while True:
                try:
                    msg = await ws.receive()
                except asyncio.CancelledError:
                    if stale.is_set():  # the watchdog gave up on this connection: reconnect
                        return
                    raise
                if msg.type in (aiohttp.WSMsgType.TEXT, aiohttp.WSMsgType.BINARY):
                    data = (
                        msg.data
                        if msg.type == aiohttp.WSMsgType.TEXT
                        else msg.data.decode("utf-8", "replace")
                    )
                    if not answered:
                        answered = True
                        self.health.state = "connected"
                    self.health.rate_per_s = self._rate.tick()
                    message = frame_message(data)
                    if deliver(
                        message,
                        exchange=spec.exchange,
                        parser=self.parser,
                        sink=self.sink,
                        health=self.health,
                        receive_ms=self.wall_ms(),
                        recorder=self.recorder,
                    ):
                        last_data[0] = time.monotonic()
                        self._delivered = True
                        self.delivering.set()
                        first.set()
                        self.health.failures = 0
                        if self.health.state == "stale":
                            self.health.state = "connected"
                    elif (spec.renew_when is not None and spec.renew_when(decoded(message))) or (
                        spec.without is not None and self.health.unlisted != unlisted
                    ):
                        # The server will close this connection soon, or refused a market
                        # (its frame may have taken others down with it): overlap a new
                        # connection now, subscribed without the refused markets.
                        unlisted = self.health.unlisted
                        wait = RENEW_MIN_AGE_S - (time.monotonic() - opened)
                        if wait <= 0:
                            renewal_due.set()
                        else:
                            asyncio.get_running_loop().call_later(wait, renewal_due.set)
                    if spec.max_age_s and time.monotonic() - opened > spec.max_age_s:
                        renewal_due.set()
                elif msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSING,
                    aiohttp.WSMsgType.CLOSED,
                ):
                    if not self.health.last_error or "no data" not in self.health.last_error:
                        code = ws.close_code
                        self.health.last_error = f"server closed the connection ({code})"
                    return
                elif msg.type == aiohttp.WSMsgType.ERROR:
                    error = msg.data or ws.exception()  # aiohttp puts it in the message
                    self.health.last_error = f"connection error: {error}"[:200]
                    return
        finally:
            watchdog.cancel()
            with contextlib.suppress(Exception):
                await ws.close()

    async def _watch(
        self,
        ws: aiohttp.ClientWebSocketResponse,
        last_data: list[float],
        stale: asyncio.Event,
        reader: asyncio.Task[object],
    ) -> None:
        """Mark the feed stale after half the allowed silence; drop the connection after all
        of it (cancelling the read: a half-open peer would never answer a close)."""
        limit = self.spec.stale_after_s
        while not ws.closed:
            await asyncio.sleep(min(1.0, limit / 8))
            silent = time.monotonic() - last_data[0]
            if silent >= limit:
                self.health.state = "stale"
                self.health.last_error = f"no data for {limit:g} s"
                stale.set()
                reader.cancel()
                return
            if silent >= limit / 2 and self.health.state == "connected":
                self.health.state = "stale"

    async def _ping(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        frame = _encode(self.spec.ping_frame)  # type: ignore[arg-type]
        with contextlib.suppress(aiohttp.ClientError, ConnectionError, RuntimeError):
            while not ws.closed:
                await asyncio.sleep(self.spec.ping_interval_s)
                await ws.send_str(frame)


async def _close_after(first: asyncio.Event, previous: asyncio.Task[None]) -> None:
    await first.wait()
    await asyncio.sleep(HANDOVER_GRACE_S)
    previous.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await previous


class RestPoller(_Connector):
    def __init__(
        self,
        spec: PollSpec,
        parser: ExchangeParser,
        sink: EventSink,
        session: aiohttp.ClientSession,
        *,
        recorder: Recorder | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        wall_ms: Callable[[], int] = _wall_ms,
        budget: RestBudget | None = None,
        clock: Clock | None = None,
    ) -> None:
        super().__init__(
            spec.feed, parser, sink, session, recorder=recorder,
            backoff=backoff or Backoff(initial_s=spec.interval_s, cap_s=300.0), rng=rng,
            wall_ms=wall_ms,
        )  # fmt: skip
        self.spec = spec
        self.budget = budget
        self.clock = clock or (budget.clock if budget is not None else Clock())
        self.requests = 0
        self.failures = 0

    async def poll_once(self) -> float:
        """One request, delivered; returns how long to wait before the next one."""
        msg, wait = await self.fetch()
        if msg is not NOTHING:
            self.handle(msg)
        return wait

    def handle(self, msg: object) -> None:
        """Record and parse an answer (unless the spec says it is no market data)."""
        if self.spec.deliver:
            deliver(
                msg,
                exchange=self.spec.exchange,
                parser=self.parser,
                sink=self.sink,
                health=self.health,
                receive_ms=self.wall_ms(),
                recorder=self.recorder,
                rest=self.spec.endpoint,
            )

    async def fetch(self) -> tuple[object, float]:
        """One request within the budget: the decoded answer (NOTHING when there is none) and
        how long to wait before the next request."""
        spec = self.spec
        if self.budget is not None:
            await self.budget.acquire(spec.weight)
        self.requests += 1
        try:
            async with self.session.request(
                spec.method,
                spec.url,
                json=spec.body,
                timeout=aiohttp.ClientTimeout(total=spec.timeout_s),
            ) as resp:
                body = await resp.text()
                if resp.status == 429 or resp.status == 418:
                    self.failures += 1
                    retry = _retry_after(resp.headers.get("Retry-After"))
                    self.health.last_error = f"{spec.endpoint}: rate limited ({resp.status})"
                    return NOTHING, max(retry, self.backoff.delay(self.failures, self.rng))
                if resp.status != 200:
                    raise _PollError(f"HTTP {resp.status}")
        except (TimeoutError, aiohttp.ClientError, OSError, _PollError) as exc:
            self.failures += 1
            text = str(exc) or exc.__class__.__name__
            self.health.last_error = f"{spec.endpoint}: {text}"[:200]
            return NOTHING, self.backoff.delay(self.failures, self.rng)
        self.failures = 0
        try:
            return json.loads(body, parse_constant=_no_constant), spec.interval_s
        except (ValueError, RecursionError):
            self.health.messages += 1
            self.health.skipped += 1
            self.health.last_error = f"{spec.endpoint}: response is not JSON"
            return NOTHING, spec.interval_s

    async def run(self) -> None:
        await self.clock.sleep(self.spec.initial_delay_s)
        while True:
            try:
                wait = await self.poll_once()
            except Exception as exc:  # a bug here must not stop every feed: report, go on
                self.failures += 1
                self.health.last_error = f"{self.spec.endpoint}: {type(exc).__name__}: {exc}"
                wait = self.backoff.delay(self.failures, self.rng)
            await self.clock.sleep(wait)


NOTHING = object()  # RestPoller.fetch: no usable answer (JSON null is an answer)


class _PollError(Exception):
    pass


def _retry_after(value: str | None) -> float:
    """Retry-After in seconds: delta-seconds or an HTTP date."""
    if value is None:
        return 0.0
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return 0.0
    return max(when.timestamp() - time.time(), 0.0)
