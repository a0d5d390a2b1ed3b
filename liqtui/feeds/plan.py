"""What a live feed connects to: plain data, so exchange modules stay importable without aiohttp
(replay and snapshots never load the network stack)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from liqtui.config import parse_duration

__all__ = ["FeedPlan", "Frame", "PollSpec", "StreamSpec", "parse_duration"]

Frame = str | dict[str, object]


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


@dataclass(frozen=True, slots=True)
class FeedPlan:
    streams: list[StreamSpec] = field(default_factory=list)
    polls: list[PollSpec] = field(default_factory=list)
    startup: list[PollSpec] = field(default_factory=list)  # before the streams (metadata)
    note: str = ""  # shown in the feed's health (e.g. "no public liquidation feed")
