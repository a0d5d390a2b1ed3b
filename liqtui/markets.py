"""Market names: one market per base asset, combining each exchange's USDT-margined perpetual.

Users may type BTC, btc, BTCUSDT, BTC/USDT, BTC/USDT:USDT (ccxt) or BTC-USDT-SWAP (OKX);
all mean the market "BTC". Exchange symbols map back with `exchange_symbol`.
"""

from __future__ import annotations

import re

# Letters and digits in any script: Binance lists perpetuals such as 币安人生USDT.
_BASE_RE = re.compile(r"^[^\W_a-z]{1,24}$")
_QUOTE = "USDT"


class SymbolError(ValueError):
    """A symbol that names no USDT-margined perpetual."""


def market_key(text: str) -> str:
    """Normalize what a user typed to the market key ("BTC"). Raises SymbolError."""
    raw = text.strip().upper()
    base = raw
    if "/" in raw:  # ccxt unified: BTC/USDT or BTC/USDT:USDT
        base, _, rest = raw.partition("/")
        quote = rest.split(":", 1)[0]
        if quote != _QUOTE:
            raise SymbolError(f"{text!r}: only USDT-margined perpetuals are supported")
    elif raw.endswith("-USDT-SWAP"):
        base = raw[: -len("-USDT-SWAP")]
    elif raw.endswith("-USDT"):
        base = raw[: -len("-USDT")]
    elif raw.endswith(_QUOTE) and len(raw) > len(_QUOTE):
        base = raw[: -len(_QUOTE)]
    if not _BASE_RE.match(base):
        raise SymbolError(f"{text!r} is not a market name (try BTC, BTCUSDT or BTC/USDT:USDT)")
    return base


def from_exchange_symbol(exchange: str, symbol: object) -> str | None:
    """Market key for an exchange's own symbol, or None if it is not a USDT perpetual."""
    if not isinstance(symbol, str):
        return None
    if exchange in ("binance", "bybit"):
        if not symbol.endswith(_QUOTE) or len(symbol) <= len(_QUOTE):
            return None
        base = symbol[: -len(_QUOTE)]
    elif exchange == "okx":
        if not symbol.endswith("-USDT-SWAP"):
            return None
        base = symbol[: -len("-USDT-SWAP")]
    elif exchange == "hyperliquid":
        base = symbol
    else:
        return None
    return base if _BASE_RE.match(base) else None


def exchange_symbol(exchange: str, market: str) -> str:
    """The exchange's own symbol for a market key."""
    if exchange in ("binance", "bybit"):
        return f"{market}{_QUOTE}"
    if exchange == "okx":
        return f"{market}-USDT-SWAP"
    if exchange == "hyperliquid":
        return market
    raise SymbolError(f"unknown exchange {exchange!r}")
