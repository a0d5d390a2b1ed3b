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

from liqtui import exchanges as registry
from liqtui.config import Endpoint, Settings
from liqtui.exchanges.spec import ExchangeSpec


@dataclass(frozen=True, slots=True)
class MarketUniverse:
    markets: dict[str, tuple[str, ...]] = field(default_factory=dict)  # key → exchanges
    # (exchange, key) → units of the market's asset per contract (1000PEPEUSDT: 1,000 PEPE)
    contract_size: dict[tuple[str, str], float] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)  # exchange → why it is missing

    def exchanges_for(self, market: str) -> tuple[str, ...]:
        return self.markets.get(market, ())


def _key(spec: ExchangeSpec, market: dict[str, Any]) -> tuple[str, float] | None:
    """Market key and units of its asset per contract of a ccxt market liqtui follows (an
    active linear swap that the exchange's spec recognizes)."""
    if not (market.get("swap") and market.get("linear")) or market.get("active") is False:
        return None
    return spec.ccxt_market(market)


async def _listing(name: str, endpoint: Endpoint) -> dict[str, float]:
    import ccxt.async_support as ccxt  # lazy: see the module docstring

    spec = registry.get(name)
    config = spec.ccxt_config(endpoint.rest_url)
    exchange = getattr(ccxt, spec.ccxt_id)(
        # aiohttp_trust_env: HTTPS_PROXY / HTTP_PROXY, as the live feeds (one load a session).
        {**config, "enableRateLimit": False, "timeout": 15_000, "aiohttp_trust_env": True}
    )
    try:
        markets = await exchange.load_markets()
    finally:
        await exchange.close()
    out: dict[str, float] = {}
    for market in markets.values():
        found = _key(spec, market)
        if found is not None:
            key, multiple = found
            out[key] = float(market.get("contractSize") or 1.0) * multiple
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
