"""What an exchange is to liqtui: one `ExchangeSpec` per exchange, the plan types its feed plan is
made of, and the errors its parsers raise. Plain data and pure functions, so exchange modules
stay importable without aiohttp or ccxt (replay and snapshots never load the network stack)."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar

from liqtui.durations import parse_duration
from liqtui.events import MarketEvent

__all__ = [
    "Endpoints",
    "ExchangeParser",
    "ExchangeSpec",
    "FeedOptions",
    "FeedPlan",
    "Frame",
    "HistoryPage",
    "HistoryPlan",
    "HistoryRequest",
    "HistorySeries",
    "MarginRule",
    "NotTracked",
    "ParseError",
    "PartlyBad",
    "PollSpec",
    "RateLimit",
    "Refused",
    "StreamSpec",
    "chunked",
    "parse_duration",
]

Frame = str | dict[str, object]
# An HTTP GET of a URL that returns the decoded JSON (the caller's client: specs do no I/O).
GetJson = Callable[[str], Awaitable[Any]]
TierFetch = Callable[[GetJson, str, str], Awaitable[dict[str, Any]]]
T = TypeVar("T")


# -- parse errors -----------------------------------------------------------------------------
class ParseError(ValueError):
    """A message that violates the exchange's schema. The caller counts it and skips it."""


class NotTracked(Exception):
    """A valid message about something liqtui does not follow (a USDC or coin-margined market)."""


class Refused(ParseError):
    """The exchange refused a subscription (Bybit `success:false`, OKX `event:error`,
    Hyperliquid's error channel, Binance `{"error":…}`). `markets` are the market keys it names,
    when the answer names them: they are not subscribed there again."""

    def __init__(self, message: str, markets: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.markets = markets


class PartlyBad(ParseError):
    """A batch in which some items are malformed: `events` are the valid items' events (kept),
    `errors` say what was wrong with each bad item (each one counted as skipped)."""

    def __init__(self, events: list[MarketEvent], errors: list[str]) -> None:
        super().__init__(f"{len(errors)} bad item(s) in a batch: {errors[0] if errors else ''}")
        self.events = events
        self.errors = errors


# -- what a feed plan is made of --------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class RateLimit:
    """An exchange's documented REST limit for one IP: `weight` per `per_s` seconds."""

    weight: float
    per_s: float

    @property
    def per_second(self) -> float:
        return self.weight / self.per_s


def chunked(items: Sequence[T], size: int) -> list[list[T]]:
    """`items` in consecutive groups of at most `size` (one group per connection)."""
    size = max(size, 1)
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """One WebSocket connection's recipe."""

    feed: str  # health record name, e.g. "binance"
    exchange: str  # recording "ex" and parser id
    url: str
    subscribe: Sequence[Frame] = ()
    ping_frame: Frame | None = None  # application-level keep-alive (Bybit, OKX)
    ping_interval_s: float = 20.0
    stale_after_s: float = 60.0  # no message for this long: reconnect
    max_age_s: float | None = None  # planned reconnect (overlapping) after this long
    liquidations_complete: bool | None = None
    # A server notice that this connection closes soon (OKX 64008): renew it now, overlapping.
    renew_when: Callable[[object], bool] | None = None
    # A subscribe frame without the given markets (None: nothing left to send). Markets the
    # exchange refused are left out when the connection is opened again.
    without: Callable[[Frame, frozenset[str]], Frame | None] | None = None


@dataclass(frozen=True, slots=True)
class PollSpec:
    """One REST request repeated at its own pace (interval_s = 0: once, at start)."""

    feed: str
    exchange: str
    endpoint: str  # path and query, recorded as "rest" and given to the parser
    url: str  # full URL including the query
    interval_s: float = 10.0
    timeout_s: float = 10.0
    initial_delay_s: float = 0.0  # wait before the first request (a refresh of startup data)
    method: str = "GET"
    body: dict[str, object] | None = None  # JSON body for POST (Hyperliquid's info endpoint)
    weight: float = 1.0  # what the request costs against the exchange's REST limit
    deliver: bool = True  # False: not market data (a listing): neither recorded nor parsed


@dataclass(frozen=True, slots=True)
class FeedPlan:
    streams: list[StreamSpec] = field(default_factory=list)
    polls: list[PollSpec] = field(default_factory=list)
    startup: list[PollSpec] = field(default_factory=list)  # before the streams (metadata)
    note: str = ""  # shown in the feed's health (e.g. "no public liquidation feed")


# -- public history (backfill) -----------------------------------------------------------------
HistoryKind = Literal["open_interest", "klines", "funding"]


@dataclass(frozen=True, slots=True)
class HistoryRequest:
    """One request of a history series: `endpoint` (path and query) is appended to the REST
    base URL, recorded as the line's "rest" and handed to `parser.rest` like any poll."""

    endpoint: str
    method: str = "GET"
    body: dict[str, object] | None = None  # JSON body for POST (Hyperliquid's info endpoint)
    weight: float = 1.0  # what it costs against the exchange's REST limit


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """What the fetcher needs to know about one answer to page on: the times of its valid
    items (the start of each 5-minute OI point, 1m bar or funding settlement), the cursor of the
    next page when the exchange pages by cursor, and the exchange's error when it refused."""

    times: tuple[int, ...] = ()
    cursor: str | None = None
    error: str | None = None


@dataclass(frozen=True, slots=True)
class HistorySeries:
    """One public history endpoint of one exchange.

    `request(exchange_symbol, start_ms, end_ms, cursor)` asks for the items whose time lies in
    [start_ms, end_ms] (both inclusive; at most `page_items` of them, `step_ms` apart); `page`
    reads an answer's item times and cursor without raising. The events themselves come from
    the exchange's `parser.rest(endpoint, answer)`, so a recording of the answers replays to
    the same events."""

    kind: HistoryKind
    step_ms: int  # spacing of the items (at least): 5 min of OI, 1 min bars, 1 h of funding
    page_items: int  # the most items one request returns
    lookback_ms: int | None  # how far back from now the exchange serves it (None: no cap known)
    request: Callable[[str, int, int, str | None], HistoryRequest]
    page: Callable[[object], HistoryPage]
    # Every step has an item (bars, OI points): a page with fewer items than its window holds
    # was cut short. False (funding: 1 to 8 hours apart): only a full page may have more.
    dense: bool = True


@dataclass(frozen=True, slots=True)
class HistoryPlan:
    """What an exchange's public REST history offers, fetched in `series` order (funding before
    klines: the settled rates ride on the minutes' closing marks). `note` says what is missing
    ("no public open-interest history")."""

    series: tuple[HistorySeries, ...] = ()
    note: str = ""

    def get(self, kind: HistoryKind) -> HistorySeries | None:
        return next((s for s in self.series if s.kind == kind), None)

    def answers(self, endpoint: str) -> bool:
        """Whether a recorded REST line's `endpoint` is one of these history requests (replay
        applies history as history, not at the line's time)."""
        path, _, query = endpoint.partition("?")
        return (path, _kind(query)) in _request_shapes(self)

    @property
    def open_interest_lookback_ms(self) -> int | None:
        """How far back open-interest history goes (None: the exchange has none)."""
        series = self.get("open_interest")
        if series is None:
            return None
        return series.lookback_ms if series.lookback_ms is not None else MAX_HISTORY_MS


MAX_HISTORY_MS = 365 * 86_400_000  # a series without a documented cap: a year at most


@functools.lru_cache(maxsize=64)
def _request_shapes(plan: HistoryPlan) -> frozenset[tuple[str, str]]:
    """(path, kind) of each series' requests: built once per plan, as replay asks for every
    REST line (building sample requests each time cost seconds over a long recording)."""
    shapes = set()
    for series in plan.series:
        sample, _, sample_query = series.request("X", 0, 0, None).endpoint.partition("?")
        shapes.add((sample, _kind(sample_query)))
    return frozenset(shapes)


def _kind(query: str) -> str:
    """The `type` of an info request (Hyperliquid names its POST requests so); "" if none."""
    for part in query.split("&"):
        if part.startswith("type="):
            return part[5:]
    return ""


# -- what a plan is made from (config.Endpoint and config.Feeds satisfy these) ----------------
class Endpoints(Protocol):
    """Base URLs of one exchange's public API."""

    @property
    def ws_url(self) -> str: ...

    @property
    def rest_url(self) -> str: ...


class FeedOptions(Protocol):
    """The feed settings a plan reads (durations as written in settings: "15s")."""

    @property
    def oi_poll(self) -> str: ...

    @property
    def depth_poll(self) -> str: ...

    @property
    def stale_after(self) -> str: ...

    @property
    def renew_after(self) -> str: ...

    @property
    def streams_per_connection(self) -> int: ...


class ExchangeParser(Protocol):
    """Live clients and replay share parsers, so a recording reproduces a live run. Parsers are
    objects because some exchanges need state (OKX contract sizes, Bybit's ticker deltas,
    Hyperliquid's receive-time stamps); each session makes fresh ones."""

    def __call__(self, msg: object) -> list[MarketEvent] | None:
        """Events in one stream message; None if valid but unused. Raises ParseError or
        NotTracked."""
        ...

    def rest(self, endpoint: str, msg: object) -> list[MarketEvent] | None:
        """Events in one REST response; `endpoint` is the path and query that was requested."""
        ...


# -- the margin rules the model's liquidation maths reads -------------------------------------
@dataclass(frozen=True, slots=True)
class MarginRule:
    """How an exchange computes an isolated position's liquidation price (models.md §4).

    form "divided": LP = (EP·(1 ∓ 1/L) ∓ cum/Q) / (1 ∓ m)  (Binance, OKX, Hyperliquid)
    form "linear":  LP = EP·(1 ∓ 1/L ± m) ∓ cum/Q          (Bybit)
    """

    form: Literal["divided", "linear"]
    tier1_mmr: float  # maintenance margin rate when the caller gives none (BTC tier 1)
    fee_in_maintenance: float = 0.0  # added to the MMR (OKX: the taker fee)
    maint_amount: bool = True  # whether a tier's maintenance amount (cum, deduction) applies
    # The MMR is half the initial margin at the tier's max leverage (Hyperliquid), not its `mmr`.
    mmr_from_max_leverage: bool = False


# -- one exchange ------------------------------------------------------------------------------
Liquidations = Literal["complete", "throttled", "none"]


@dataclass(frozen=True, slots=True)
class ExchangeSpec:
    """Everything liqtui knows about one exchange; the registry (liqtui.exchanges) holds one per
    exchange, and nothing outside liqtui.exchanges names an exchange id."""

    id: str  # config, recordings ("ex"), health records, events: "binance"
    name: str  # display name: "Binance"
    short: str  # where the status line is narrow: "hyperliq"
    ws_url: str  # default public endpoints (overridable in [exchanges.<id>])
    rest_url: str
    # Whether the public liquidation stream carries every liquidation ("complete"), at most one
    # per symbol and second ("throttled": a lower bound), or there is none at all.
    liquidations: Liquidations
    parser: Callable[[], ExchangeParser]  # a fresh (stateful) parser for one session
    plan: Callable[[Sequence[str], Endpoints, FeedOptions], FeedPlan]
    rest_limit: RateLimit  # documented REST limit per IP
    listing: Callable[[Endpoints], PollSpec]  # the request that says which markets it lists
    # Market keys listed in the answer to `listing` (None: incomplete, e.g. more pages).
    listed_markets: Callable[[object], frozenset[str] | None]
    # Symbol mapping: listing key ("1000PEPE") ↔ the exchange's own symbol ("1000PEPEUSDT").
    to_symbol: Callable[[str], str]
    from_symbol: Callable[[str], str | None]  # the listing key part, unvalidated; None: not ours
    known_multiples: tuple[str, ...]  # listing keys that trade a multiple of their asset
    margin: MarginRule
    # ccxt: class name, constructor config for a REST base URL, and the listing key and units of
    # the asset per contract of one ccxt market (None: not a perpetual liqtui follows).
    ccxt_id: str
    ccxt_config: Callable[[str], dict[str, Any]]
    ccxt_market: Callable[[Mapping[str, Any]], tuple[str, float] | None]
    tiers: str  # where the tier tables (brackets.toml) come from for this exchange
    # Fetch one market's tier table from the public REST API as a brackets.toml table, with the
    # caller's HTTP GET (`liqtui calibrate --refresh-tiers`); None: no public endpoint.
    fetch_tiers: TierFetch | None = None
    # Public history for backfill (liqtui.feeds.backfill); empty: the exchange offers none.
    history: HistoryPlan = field(default_factory=HistoryPlan)

    @property
    def liquidations_complete(self) -> bool | None:
        """As feed health reports it: True complete, False throttled, None no feed."""
        return {"complete": True, "throttled": False}.get(self.liquidations)
