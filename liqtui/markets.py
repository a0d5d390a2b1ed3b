"""Market names: one market per base asset, combining each exchange's USDT-margined perpetual.

Users may type BTC, btc, BTCUSDT, BTC/USDT, BTC/USDT:USDT (ccxt) or BTC-USDT-SWAP (OKX);
all mean the market "BTC". Exchange symbols map back with `exchange_symbol`.

Some exchanges list an asset in multiples: Binance `1000PEPEUSDT` and Hyperliquid `kPEPE` trade
1,000 PEPE per unit, Bybit `SHIB1000USDT` 1,000 SHIB, Binance `1MBABYDOGEUSDT` a million. The
market is the plain asset ("PEPE"), priced per 1 unit as OKX prices `PEPE-USDT-SWAP` (whose
contract size, ctVal, the OKX parser applies): a parser names the multiple it read ("1000PEPE",
a *listing key*) and `to_market_units` turns its events into the asset's units, so every
exchange's prints and levels land on one ladder. Typing 1000PEPE means PEPE too.
"""

from __future__ import annotations

import dataclasses
import re
from typing import TypeVar

from liqtui.events import BookDepth, Liquidation, MarketEvent, MarkPrice, OpenInterest, TradeFlow

# Letters and digits in any script: Binance lists perpetuals such as 币安人生USDT.
_BASE_RE = re.compile(r"^[^\W_a-z]{1,24}$")
_QUOTE = "USDT"


# A listing key that trades a multiple of its asset: 1000PEPE, 1000000MOG, 1MBABYDOGE (prefix)
# or SHIB1000 (Bybit's suffix form).
_PREFIX_RE = re.compile(r"^(1000000|100000|10000|1000|1M)([A-Z][A-Z0-9]*)$")
_SUFFIX_RE = re.compile(r"^([A-Z][A-Z0-9]*[A-Z])(1000)$")
# How each exchange lists assets in multiples (listing keys), so that a market is subscribed
# under the exchange's own name before anything has been read from it. A listing or message
# that names another multiple teaches it (`split_multiple`); OKX lists plain assets.
KNOWN_MULTIPLES: dict[str, tuple[str, ...]] = {
    "binance": ("1000PEPE", "1000SHIB", "1000BONK", "1000FLOKI", "1000LUNC", "1000XEC",
                "1000SATS", "1000RATS", "1000CAT", "1000CHEEMS", "1000WHY", "1000X",
                "1000000MOG", "1MBABYDOGE"),
    "bybit": ("1000PEPE", "SHIB1000", "1000BONK", "1000FLOKI", "1000LUNC", "1000XEC",
              "1000RATS", "1000CAT", "1000000MOG", "1000000BABYDOGE"),
    "hyperliquid": ("1000PEPE", "1000SHIB", "1000BONK", "1000FLOKI", "1000LUNC", "1000DOGS",
                    "1000NEIRO"),
}  # fmt: skip
_listed_as: dict[tuple[str, str], str] = {}  # (exchange, asset) → listing key


def split_multiple(key: str) -> tuple[str, float]:
    """(asset, units of the asset per unit of `key`): "1000PEPE" → ("PEPE", 1000.0)."""
    m = _PREFIX_RE.match(key)
    if m:
        return m.group(2), 1e6 if m.group(1) == "1M" else float(m.group(1))
    m = _SUFFIX_RE.match(key)
    if m:
        return m.group(1), 1000.0
    return key, 1.0


def remember_listing(exchange: str, key: str) -> None:
    """Note that `exchange` lists the asset of `key` under that multiple."""
    asset, multiple = split_multiple(key)
    if multiple != 1.0:
        _listed_as[(exchange, asset)] = key


for _exchange, _keys in KNOWN_MULTIPLES.items():
    for _key in _keys:
        remember_listing(_exchange, _key)


def listing_key(exchange: str, market: str) -> str:
    """The key an exchange lists a market under ("PEPE" on Binance → "1000PEPE")."""
    return _listed_as.get((exchange, market), market)


def canonical(key: str) -> str:
    """The market of a listing key ("1000PEPE" → "PEPE")."""
    return split_multiple(key)[0]


E = TypeVar("E", bound=MarketEvent)


def to_market_units(event: E) -> E:
    """An event named by a listing key, in the asset's own units: prices ÷ the multiple,
    quantities × it (USD notionals and depth are unchanged)."""
    asset, k = split_multiple(event.symbol)
    if k == 1.0:
        return event
    if isinstance(event, Liquidation):
        return dataclasses.replace(  # type: ignore[return-value]
            event, symbol=asset, price=event.price / k, quantity=event.quantity * k
        )
    if isinstance(event, MarkPrice):
        return dataclasses.replace(event, symbol=asset, mark_price=event.mark_price / k)  # type: ignore[return-value]
    if isinstance(event, OpenInterest):
        return dataclasses.replace(  # type: ignore[return-value]
            event, symbol=asset, open_interest=event.open_interest * k
        )
    if isinstance(event, TradeFlow):
        return dataclasses.replace(  # type: ignore[return-value]
            event,
            symbol=asset,
            taker_buy_base=event.taker_buy_base * k,
            taker_sell_base=event.taker_sell_base * k,
            vwap=event.vwap / k,
            high=None if event.high is None else event.high / k,
            low=None if event.low is None else event.low / k,
            close=None if event.close is None else event.close / k,
        )
    if isinstance(event, BookDepth):
        return dataclasses.replace(event, symbol=asset, mid=event.mid / k)  # type: ignore[return-value]
    return event


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
    return canonical(base)


def from_exchange_symbol(exchange: str, symbol: object) -> str | None:
    """Listing key for an exchange's own symbol ("1000PEPE" for 1000PEPEUSDT: see
    `canonical` for its market), or None if it is not a USDT perpetual."""
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
    if not _BASE_RE.match(base):
        return None
    remember_listing(exchange, base)
    return base


def market_of_symbol(exchange: str, symbol: object) -> str | None:
    """The market of an exchange's own symbol ("PEPE" for 1000PEPEUSDT), or None."""
    key = from_exchange_symbol(exchange, symbol)
    return None if key is None else canonical(key)


def exchange_symbol(exchange: str, market: str) -> str:
    """The exchange's own symbol for a market ("PEPE" on Binance: 1000PEPEUSDT)."""
    market = listing_key(exchange, market)
    if exchange in ("binance", "bybit"):
        return f"{market}{_QUOTE}"
    if exchange == "okx":
        return f"{market}-USDT-SWAP"
    if exchange == "hyperliquid":
        return market
    raise SymbolError(f"unknown exchange {exchange!r}")
