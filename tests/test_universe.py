"""The market universe via ccxt, against loopback copies of each exchange's instrument list."""

from __future__ import annotations

import pytest
from aiohttp import web
from support.loopback import Loopback, loopback_settings

from liqtui.config import Endpoint
from liqtui.feeds.universe import fetch_universe

BINANCE_INFO = {
    "timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [], "assets": [],
    "symbols": [
        {"symbol": s, "pair": s, "contractType": ct, "deliveryDate": 4133404800000,
         "onboardDate": 1569398400000, "status": "TRADING", "baseAsset": base,
         "quoteAsset": quote, "marginAsset": quote, "pricePrecision": 2,
         "quantityPrecision": 3, "baseAssetPrecision": 8, "quotePrecision": 8,
         "filters": [{"filterType": "PRICE_FILTER", "minPrice": "0.1", "maxPrice": "1000000",
                      "tickSize": "0.10"},
                     {"filterType": "LOT_SIZE", "minQty": "0.001", "maxQty": "1000",
                      "stepSize": "0.001"}],
         "orderTypes": ["LIMIT", "MARKET"], "timeInForce": ["GTC"]}
        for s, base, quote, ct in (
            ("BTCUSDT", "BTC", "USDT", "PERPETUAL"),
            ("1000PEPEUSDT", "1000PEPE", "USDT", "PERPETUAL"),
            ("BTCUSDC", "BTC", "USDC", "PERPETUAL"),
            ("BTCUSDT_261225", "BTC", "USDT", "CURRENT_QUARTER"),
        )
    ],
}  # fmt: skip


def bybit_instruments(request: web.Request) -> dict[str, object]:
    rows = [
        {"symbol": s, "contractType": "LinearPerpetual", "status": "Trading", "baseCoin": b,
         "quoteCoin": "USDT", "settleCoin": "USDT", "launchTime": "1585526400000",
         "deliveryTime": "0", "priceScale": "2",
         "leverageFilter": {"minLeverage": "1", "maxLeverage": "100.00", "leverageStep": "0.01"},
         "priceFilter": {"minPrice": "0.10", "maxPrice": "199999.80", "tickSize": "0.10"},
         "lotSizeFilter": {"maxOrderQty": "100.000", "minOrderQty": "0.001",
                           "qtyStep": "0.001", "minNotionalValue": "5"},
         "unifiedMarginTrade": True, "fundingInterval": 480, "copyTrading": "both"}
        for s, b in (("BTCUSDT", "BTC"), ("ETHUSDT", "ETH"))
    ]  # fmt: skip
    if request.query.get("status") == "PreLaunch":
        rows = []
    return {"retCode": 0, "retMsg": "OK",
            "result": {"category": "linear", "list": rows, "nextPageCursor": ""},
            "retExtInfo": {}, "time": 1700000000000}  # fmt: skip


OKX_INSTRUMENTS = {
    "code": "0", "msg": "",
    "data": [
        {"instType": "SWAP", "instId": i, "uly": u, "instFamily": u, "baseCcy": "", "quoteCcy": "",
         "settleCcy": settle, "ctValCcy": cc, "ctVal": cv, "ctMult": "1", "ctType": ct,
         "tickSz": "0.1", "lotSz": "0.01", "minSz": "0.01", "lever": "100", "state": "live",
         "listTime": "1606468572000", "expTime": "", "alias": "", "optType": "", "stk": "",
         "maxLmtSz": "100000000", "maxMktSz": "10000"}
        for i, u, settle, cc, cv, ct in (
            ("BTC-USDT-SWAP", "BTC-USDT", "USDT", "BTC", "0.01", "linear"),
            ("SOL-USDT-SWAP", "SOL-USDT", "USDT", "SOL", "1", "linear"),
            ("BTC-USD-SWAP", "BTC-USD", "BTC", "USD", "100", "inverse"),
        )
    ],
}  # fmt: skip


async def hyperliquid_info(request: web.Request, loop: Loopback) -> web.StreamResponse:
    body = await request.json()
    if body.get("type") == "spotMeta":
        return web.json_response({"universe": [], "tokens": []})
    universe = [{"name": "BTC", "szDecimals": 5, "maxLeverage": 40},
                {"name": "kPEPE", "szDecimals": 0, "maxLeverage": 10}]  # fmt: skip
    ctx = {"funding": "0.0000125", "openInterest": "100.0", "prevDayPx": "1", "dayNtlVlm": "1",
           "premium": "0", "oraclePx": "1", "markPx": "1", "midPx": "1",
           "impactPxs": ["1", "1"], "dayBaseVlm": "1"}  # fmt: skip
    return web.json_response([{"universe": universe}, [ctx, ctx]])


async def test_universe_lists_usdt_perpetuals_across_exchanges() -> None:
    async def bybit(request: web.Request, loop: Loopback) -> web.StreamResponse:
        return web.json_response(bybit_instruments(request))

    async with Loopback() as loop:
        loop.rest("/fapi/v1/exchangeInfo", BINANCE_INFO)
        loop.rest("/v5/market/instruments-info", bybit)
        loop.rest("/api/v5/public/instruments", OKX_INSTRUMENTS)
        loop.rest("/info", hyperliquid_info, method="POST")
        endpoint = Endpoint(loop.ws_base, loop.http)
        settings = loopback_settings(
            {ex: endpoint for ex in ("binance", "bybit", "okx", "hyperliquid")}
        )
        universe = await fetch_universe(settings)
    assert universe.errors == {}
    assert universe.exchanges_for("BTC") == ("binance", "bybit", "okx", "hyperliquid")
    # Binance 1000PEPEUSDT and Hyperliquid kPEPE are one market, PEPE (per 1 PEPE).
    assert universe.exchanges_for("PEPE") == ("binance", "hyperliquid")
    assert universe.exchanges_for("SOL") == ("okx",)
    assert universe.contract_size[("okx", "BTC")] == pytest.approx(0.01)
    # A listing in multiples: one Binance 1000PEPEUSDT (and one kPEPE) is 1,000 PEPE.
    assert universe.contract_size[("binance", "PEPE")] == pytest.approx(1000.0)
    assert universe.contract_size[("hyperliquid", "PEPE")] == pytest.approx(1000.0)
    assert set(universe.markets) == {"BTC", "PEPE", "ETH", "SOL"}


async def test_an_unreachable_exchange_is_reported_not_raised() -> None:
    async with Loopback() as loop:
        loop.rest("/fapi/v1/exchangeInfo", BINANCE_INFO)
        good = Endpoint(loop.ws_base, loop.http)
        dead = Endpoint("ws://127.0.0.1:9", "http://127.0.0.1:9")
        settings = loopback_settings({"binance": good, "okx": dead})
        universe = await fetch_universe(settings)
    assert universe.exchanges_for("BTC") == ("binance",)
    assert "okx" in universe.errors


async def test_the_listing_goes_through_the_proxy_of_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The exchange's host does not resolve; HTTP_PROXY names the loopback server."""
    async with Loopback() as loop:
        loop.rest("/fapi/v1/exchangeInfo", BINANCE_INFO)
        monkeypatch.setenv("HTTP_PROXY", loop.http)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        far = Endpoint("ws://fapi.exchange.invalid", "http://fapi.exchange.invalid")
        universe = await fetch_universe(loopback_settings({"binance": far}))
    assert universe.errors == {} and universe.exchanges_for("BTC") == ("binance",)
    assert loop.requests == ["/fapi/v1/exchangeInfo"]
