"""Tier tables (maintenance-margin brackets) from the exchanges' public REST endpoints:
Bybit's risk limits and OKX's position tiers, as brackets.toml tables (`liqtui calibrate
--refresh-tiers` writes them into the tiers file). aiohttp is imported when fetching.

TODO(exchanges): the request URLs and the parsing per exchange could come from each exchange's
spec (liqtui.exchanges, "tier-table request/parse"); `refresh_tiers` would then loop over the
specs that have a tier-table endpoint instead of naming Bybit and OKX.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from liqtui.config import Settings


async def _get_json(session: Any, url: str) -> Any:
    async with session.get(url) as resp:
        if resp.status != 200:
            raise RuntimeError(f"{url}: HTTP {resp.status}")
        return await resp.json(content_type=None)


async def fetch_bybit_tiers(session: Any, rest_url: str, market: str) -> dict[str, Any]:
    """Bybit linear risk limits (GET /v5/market/risk-limit, public) as a brackets.toml table."""
    symbol = f"{market}USDT"
    url = f"{rest_url}/v5/market/risk-limit?category=linear&symbol={symbol}"
    rows: list[dict[str, Any]] = []
    cursor = ""
    for _ in range(20):
        doc = await _get_json(session, url + (f"&cursor={cursor}" if cursor else ""))
        if not isinstance(doc, dict) or doc.get("retCode") not in (0, "0"):
            raise RuntimeError(
                f"bybit risk-limit {symbol}: {doc.get('retMsg') if isinstance(doc, dict) else doc}"
            )
        result = doc.get("result") or {}
        rows += [r for r in result.get("list", []) if r.get("symbol", symbol) == symbol]
        cursor = result.get("nextPageCursor") or ""
        if not cursor:
            break
    tiers = []
    for r in sorted(rows, key=lambda r: float(r["riskLimitValue"])):
        deduction = r.get("mmDeduction") or 0
        tiers.append(
            [
                float(r["riskLimitValue"]),
                float(r["maxLeverage"]),
                float(r["maintenanceMargin"]),
                float(deduction),
            ]
        )
    if not tiers:
        raise RuntimeError(f"bybit risk-limit {symbol}: no tiers")
    return {"exchange": "bybit", "symbol": market, "cap_unit": "usd", "url": url, "tiers": tiers}


async def fetch_okx_tiers(session: Any, rest_url: str, market: str) -> dict[str, Any]:
    """OKX swap position tiers (GET /api/v5/public/position-tiers, public) in base units."""
    inst = f"{market}-USDT-SWAP"
    family = f"{market}-USDT"
    doc = await _get_json(
        session, f"{rest_url}/api/v5/public/instruments?instType=SWAP&instId={inst}"
    )
    data = doc.get("data") if isinstance(doc, dict) else None
    if not data:
        raise RuntimeError(f"okx instruments {inst}: {doc}")
    ct_val = float(data[0]["ctVal"])
    url = (
        f"{rest_url}/api/v5/public/position-tiers?instType=SWAP&tdMode=isolated&instFamily={family}"
    )
    doc = await _get_json(session, url)
    if not isinstance(doc, dict) or str(doc.get("code")) != "0":
        raise RuntimeError(f"okx position-tiers {family}: {doc}")
    rows = [r for r in doc.get("data", []) if r.get("instFamily", family) == family]
    tiers = []
    for r in sorted(rows, key=lambda r: int(r["tier"])):
        cap = float(r["maxSz"]) * ct_val
        tiers.append([cap, float(r["maxLever"]), float(r["mmr"]), 0.0])
    if not tiers:
        raise RuntimeError(f"okx position-tiers {family}: no tiers")
    return {"exchange": "okx", "symbol": market, "cap_unit": "base", "url": url, "tiers": tiers}


async def refresh_tiers(settings: Settings, markets: Sequence[str]) -> list[dict[str, Any]]:
    """Bybit's and OKX's table for each market (their REST endpoints from `settings`)."""
    import aiohttp

    tables: list[dict[str, Any]] = []
    timeout = aiohttp.ClientTimeout(total=20)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for market in markets:
            tables.append(
                await fetch_bybit_tiers(session, settings.exchanges["bybit"].rest_url, market)
            )
            tables.append(
                await fetch_okx_tiers(session, settings.exchanges["okx"].rest_url, market)
            )
    return tables
