"""Exchange id → pure message parser. Live clients and replay share these, so a recording
reproduces a live run."""

from __future__ import annotations

from collections.abc import Callable

from liqtui.events import MarketEvent
from liqtui.feeds import binance

Parser = Callable[[object], list[MarketEvent] | None]

PARSERS: dict[str, Parser] = {
    "binance": binance.parse_message,
}
