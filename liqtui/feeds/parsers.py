"""Exchange id → message parser. Live clients and replay share them, so a recording reproduces
a live run. Parsers are objects because some exchanges need state (OKX contract sizes, Bybit's
ticker deltas, Hyperliquid's receive-time stamps); replay and each live session make fresh ones
with `make_parsers`.
"""

from __future__ import annotations

from typing import Protocol

from liqtui.events import MarketEvent


class ExchangeParser(Protocol):
    def __call__(self, msg: object) -> list[MarketEvent] | None:
        """Events in one stream message; None if valid but unused. Raises ParseError or
        NotTracked (see liqtui.feeds.base)."""
        ...

    def rest(self, endpoint: str, msg: object) -> list[MarketEvent] | None:
        """Events in one REST response; `endpoint` is the path and query that was requested."""
        ...


def make_parsers() -> dict[str, ExchangeParser]:
    from liqtui.feeds import binance, bybit, hyperliquid, okx

    return {
        "binance": binance.Parser(),
        "bybit": bybit.Parser(),
        "okx": okx.Parser(),
        "hyperliquid": hyperliquid.Parser(),
    }
