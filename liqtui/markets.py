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
import functools
import re
from typing import TypeVar

from liqtui import exchanges as registry
from liqtui.events import BookDepth, Liquidation, MarketEvent, MarkPrice, OpenInterest, TradeFlow

# Letters and digits in any script: Binance lists perpetuals such as 币安人生USDT.
_BASE_RE = re.compile(r"^[^\W_a-z]{1,24}$")
_QUOTE = "USDT"


# A listing key that trades a multiple of its asset: 1000PEPE, 1000000MOG, 1MBABYDOGE (prefix)
# or SHIB1000 (Bybit's suffix form).
_PREFIX_RE = re.compile(r"^(1000000|100000|10000|1000|1M)([A-Z][A-Z0-9]*)$")
_SUFFIX_RE = re.compile(r"^([A-Z][A-Z0-9]*[A-Z])(1000)$")
# How each exchange lists assets in multiples (`ExchangeSpec.known_multiples`) is learned on first
# use, so that a market is subscribed under the exchange's own name before anything has been read
# from it. A listing or message that names another multiple teaches it (`split_multiple`).
_listed_as: dict[tuple[str, str], str] = {}  # (exchange, asset) → listing key
_seeded: set[str] = set()  # exchanges whose known multiples are in _listed_as


@functools.lru_cache(maxsize=4096)  # called for every event: a handful of keys, over and over
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


def _seed(exchange: str) -> None:
    """The exchange's known multiples, under what was learned since (which takes precedence)."""
    _seeded.add(exchange)
    spec = registry.find(exchange)
    for key in spec.known_multiples if spec else ():
        asset, multiple = split_multiple(key)
        if multiple != 1.0:
            _listed_as.setdefault((exchange, asset), key)


def listing_key(exchange: str, market: str) -> str:
    """The key an exchange lists a market under ("PEPE" on Binance → "1000PEPE")."""
    if exchange not in _seeded:
        _seed(exchange)
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
        return dataclasses.replace(
            event, symbol=asset, price=event.price / k, quantity=event.quantity * k
        )
    if isinstance(event, MarkPrice):
        return dataclasses.replace(event, symbol=asset, mark_price=event.mark_price / k)
    if isinstance(event, OpenInterest):
        return dataclasses.replace(event, symbol=asset, open_interest=event.open_interest * k)
    if isinstance(event, TradeFlow):
        return dataclasses.replace(
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
        return dataclasses.replace(event, symbol=asset, mid=event.mid / k)
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
    spec = registry.find(exchange)
    if spec is None or not isinstance(symbol, str):
        return None
    known = _bases.get((exchange, symbol))
    if known is not None and known[0] is spec:  # every message names its symbol: read it once
        base, multiple = known[1], known[2]
    else:
        base = spec.from_symbol(symbol)
        if base is not None and not _BASE_RE.match(base):
            base = None
        multiple = base is not None and split_multiple(base)[1] != 1.0
        if len(_bases) >= 4096:  # a stream of made-up symbols must not grow it without end
            _bases.clear()
        _bases[(exchange, symbol)] = (spec, base, multiple)
    if base is None:
        return None
    if multiple:  # (remember_listing notes only multiples)
        remember_listing(exchange, base)
    return base


# (exchange, symbol) → (its spec, listing key or None, whether the key is a multiple)
_bases: dict[tuple[str, str], tuple[object, str | None, bool]] = {}


def market_of_symbol(exchange: str, symbol: object) -> str | None:
    """The market of an exchange's own symbol ("PEPE" for 1000PEPEUSDT), or None."""
    key = from_exchange_symbol(exchange, symbol)
    return None if key is None else canonical(key)


def exchange_symbol(exchange: str, market: str) -> str:
    """The exchange's own symbol for a market ("PEPE" on Binance: 1000PEPEUSDT)."""
    spec = registry.find(exchange)
    if spec is None:
        raise SymbolError(f"unknown exchange {exchange!r}")
    return spec.to_symbol(listing_key(exchange, market))
