"""What a live feed connects to: plain data, so exchange modules stay importable without aiohttp
(replay and snapshots never load the network stack)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from liqtui.config import parse_duration

__all__ = [
    "FeedPlan",
    "Frame",
    "PollSpec",
    "RateLimit",
    "StreamSpec",
    "chunked",
    "parse_duration",
]

Frame = str | dict[str, object]
T = TypeVar("T")


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
