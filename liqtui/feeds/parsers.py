"""Exchange id → message parser. Live clients and replay share them, so a recording reproduces
a live run. Parsers are objects because some exchanges need state (OKX contract sizes, Bybit's
ticker deltas); replay and each live session make fresh ones with `make_parsers`.
"""

from __future__ import annotations

from collections.abc import Callable
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


def _factories() -> dict[str, Callable[[], ExchangeParser]]:
    from liqtui.feeds import binance

    factories: dict[str, Callable[[], ExchangeParser]] = {"binance": binance.Parser}
    for name in ("bybit", "okx", "hyperliquid"):
        try:
            module = __import__(f"liqtui.feeds.{name}", fromlist=["Parser"])
        except ImportError:
            continue
        factories[name] = module.Parser
    return factories


def make_parsers() -> dict[str, ExchangeParser]:
    return {name: factory() for name, factory in _factories().items()}
