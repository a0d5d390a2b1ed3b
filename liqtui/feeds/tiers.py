"""Tier tables (maintenance-margin brackets) from the exchanges' public REST endpoints, as
brackets.toml tables (`liqtui calibrate --refresh-tiers` writes them into the tiers file). What
to request and how to read it is each exchange spec's `fetch_tiers` (Bybit's risk limits, OKX's
position tiers); this module is the HTTP client. aiohttp is imported when fetching.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from liqtui import exchanges as registry

if TYPE_CHECKING:
    from liqtui.config import Settings


async def refresh_tiers(settings: Settings, markets: Sequence[str]) -> list[dict[str, Any]]:
    """The table of each market on every exchange with a public tier endpoint (their REST
    base URLs from `settings`)."""
    import aiohttp

    tables: list[dict[str, Any]] = []
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def get_json(url: str) -> Any:
            async with session.get(url) as resp:
                if resp.status != 200:
                    raise RuntimeError(f"{url}: HTTP {resp.status}")
                return await resp.json(content_type=None)

        for market in markets:
            for spec in registry.specs():
                if spec.fetch_tiers is not None:
                    rest_url = settings.exchanges[spec.id].rest_url
                    tables.append(await spec.fetch_tiers(get_json, rest_url, market))
    return tables
