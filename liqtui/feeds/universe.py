"""Which markets the exchanges list: one market key → the exchanges with its USDT (Hyperliquid:
USDC) perpetual, and each listing's contract size. ccxt serves this well: it knows every
exchange's instrument schema and maps one market across exchanges.

ccxt is imported here, lazily, only when the universe is fetched: `import ccxt` loads about a
thousand modules, which `--help`, replay and snapshots must not pay for. The stream data itself
does not go through ccxt (it drops events in bursts and has no notional; feeds.md §0.3).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from liqtui.config import Endpoint, Settings
from liqtui.markets import SymbolError, canonical, market_key, split_multiple


@dataclass(frozen=True, slots=True)
class MarketUniverse:
    markets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # key → exchanges
    # (exchange, key) → units of the market's asset per contract (1000PEPEUSDT: 1,000 PEPE)
    contract_size: dict[tuple[str, str], float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # exchange → why it is missing

    def exchanges_for(self, market: str) -> tuple[str, ...]:
        return self.markets.get(market, ())


def _ccxt_config(name: str, endpoint: Endpoint) -> tuple[str, dict[str, Any]]:
    """ccxt class name and constructor config pointing at the configured REST base URL."""
    rest = endpoint.rest_url
    if name == "binance":
        urls = {f"fapiPublic{v}": f"{rest}/fapi/{v.lower() or 'v1'}" for v in ("", "V2", "V3")}
        return "binanceusdm", {"urls": {"api": urls}}
    if name == "bybit":
        return "bybit", {"urls": {"api": {"public": rest}}, "options": _types(["linear"])}
    if name == "okx":
        return "okx", {"urls": {"api": {"rest": rest}}, "options": _types(["swap"])}
    if name == "hyperliquid":
        return "hyperliquid", {"urls": {"api": {"public": rest}}, "options": _types(["swap"])}
    raise ValueError(f"unknown exchange {name!r}")


def _types(types: list[str]) -> dict[str, Any]:
    return {"fetchMarkets": {"types": types}}


def _multiple(name: str, market: dict[str, Any]) -> float:
    """Units of the asset per unit of the listing (1000 for 1000PEPE or Hyperliquid's kPEPE)."""
    base = str(market.get("baseName") or market.get("base") or "")
    if name == "hyperliquid" and base.startswith("k") and base[1:2].isupper():
        return 1000.0
    return split_multiple(base.upper())[1]


def _key(name: str, market: dict[str, Any]) -> str | None:
    if not (market.get("swap") and market.get("linear")) or market.get("active") is False:
        return None
    if name == "hyperliquid":
        from liqtui.feeds.base import NotTracked, ParseError
        from liqtui.feeds.hyperliquid import market_of

        try:
            return canonical(market_of(str(market.get("baseName") or market.get("base") or "")))
        except (NotTracked, ParseError):
            return None
    if market.get("settle") != "USDT":
        return None
    try:
        return market_key(str(market.get("base") or ""))
    except SymbolError:
        return None


async def _listing(name: str, endpoint: Endpoint) -> dict[str, float]:
    import ccxt.async_support as ccxt  # lazy: see the module docstring

    cls_name, config = _ccxt_config(name, endpoint)
    exchange = getattr(ccxt, cls_name)(
        # aiohttp_trust_env: HTTPS_PROXY / HTTP_PROXY, as the live feeds (one load a session).
        {**config, "enableRateLimit": False, "timeout": 15_000, "aiohttp_trust_env": True}
    )
    try:
        markets = await exchange.load_markets()
    finally:
        await exchange.close()
    out: dict[str, float] = {}
    for market in markets.values():
        key = _key(name, market)
        if key is not None:
            out[key] = float(market.get("contractSize") or 1.0) * _multiple(name, market)
    return out


async def fetch_universe(
    settings: Settings, exchanges: Sequence[str] | None = None
) -> MarketUniverse:
    """Every enabled exchange's perpetual listing; an exchange that fails is reported, not
    raised (the rest still count)."""
    names = list(exchanges or settings.feeds.exchanges)
    results = await asyncio.gather(
        *(_listing(n, settings.exchanges[n]) for n in names), return_exceptions=True
    )
    markets: dict[str, list[str]] = {}
    sizes: dict[tuple[str, str], float] = {}
    errors: dict[str, str] = {}
    for name, result in zip(names, results, strict=True):
        if isinstance(result, BaseException):
            errors[name] = f"{type(result).__name__}: {result}"[:200]
            continue
        for key, size in result.items():
            markets.setdefault(key, []).append(name)
            sizes[(name, key)] = size
    return MarketUniverse(
        markets={k: tuple(v) for k, v in sorted(markets.items())},
        contract_size=sizes,
        errors=errors,
    )
