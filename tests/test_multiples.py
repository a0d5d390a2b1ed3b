"""One asset listed in multiples (issue 11 item 24): Binance 1000PEPEUSDT, Bybit 1000PEPEUSDT
and SHIB1000USDT, Hyperliquid kPEPE, OKX PEPE-USDT-SWAP (ctVal 10,000,000). They are one market,
the plain asset priced per 1 unit, so the exchanges combine."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path

import pytest
from aiohttp import web
from support.loopback import Loopback, loopback_settings, read_frames, send_json, wait_until
from support.recordings import T0, envelope, force_order, line, mark_price, write_recording

from liqtui.cli import main
from liqtui.config import Endpoint, Settings
from liqtui.events import Liquidation
from liqtui.exchanges import binance, bybit, hyperliquid, okx
from liqtui.feeds.live import LiveSource
from liqtui.markets import (
    canonical,
    exchange_symbol,
    from_exchange_symbol,
    market_key,
    split_multiple,
    to_market_units,
)
from liqtui.model.engine import Engine

OKX_INSTRUMENTS = {"code": "0", "msg": "", "data": [
    {"instType": "SWAP", "instId": "PEPE-USDT-SWAP", "settleCcy": "USDT", "ctVal": "10000000",
     "ctMult": "1", "ctValCcy": "PEPE", "ctType": "linear", "state": "live"}]}  # fmt: skip


def pepe_recording() -> list[str]:
    """The same PEPE market, each exchange in its own words and units."""
    okx_liq = {"arg": {"channel": "liquidation-orders", "instType": "SWAP"},
               "data": [{"instId": "PEPE-USDT-SWAP", "instFamily": "PEPE-USDT", "instType": "SWAP",
                         "uly": "PEPE-USDT",
                         "details": [{"bkLoss": "0", "bkPx": "0.00001201", "ccy": "",
                                      "posSide": "long", "side": "sell", "sz": "2",
                                      "ts": str(T0 + 30)}]}]}  # fmt: skip
    bybit_liq = {"topic": "allLiquidation.1000PEPEUSDT", "type": "snapshot", "ts": T0 + 500,
                 "data": [{"T": T0 + 20, "s": "1000PEPEUSDT", "S": "Buy", "v": "500000",
                           "p": "0.01199"}]}  # fmt: skip
    bybit_ticker = {"topic": "tickers.1000PEPEUSDT", "type": "snapshot", "ts": T0 + 40,
                    "data": {"symbol": "1000PEPEUSDT", "markPrice": "0.01200",
                             "openInterest": "2000000", "fundingRate": "0.0001"}}  # fmt: skip
    hl_ctx = {"channel": "activeAssetCtx", "data": {"coin": "kPEPE", "ctx": {
        "funding": "0.0000125", "openInterest": "9000000", "prevDayPx": "0.0119",
        "dayNtlVlm": "1", "premium": "0", "oraclePx": "0.012", "markPx": "0.0120",
        "midPx": "0.012", "impactPxs": ["0.012", "0.012"], "dayBaseVlm": "1"}}}  # fmt: skip
    return [
        json.dumps(
            {
                "t": T0,
                "ex": "okx",
                "msg": OKX_INSTRUMENTS,
                "rest": "/api/v5/public/instruments?instType=SWAP",
            }
        )
        + "\n",
        line(envelope(mark_price("1000PEPEUSDT", "0.0120", T0)), T0 + 5),
        line(
            envelope(force_order("1000PEPEUSDT", "SELL", "1000000", "0.0120", "0.0119", T0 + 10)),
            T0 + 15,
        ),
        line(bybit_liq, T0 + 520, "bybit"),
        line(okx_liq, T0 + 530, "okx"),
        line(bybit_ticker, T0 + 540, "bybit"),
        line(hl_ctx, T0 + 550, "hyperliquid"),
    ]


def test_every_exchange_lands_on_one_pepe_market(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_recording(tmp_path / "pepe.jsonl", pepe_recording())
    status = main(["snapshot", "--replay", str(path), "--symbol", "1000PEPE", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0 and out["symbol"] == "PEPE"  # 1000PEPE is typed, PEPE is the market
    assert out["price"] == pytest.approx(1.2e-5)  # per 1 PEPE: the median of three marks
    assert sorted(out["price_exchanges"]) == ["binance", "bybit", "hyperliquid"]
    realized = out["realized"]
    assert realized["count"] == 3 and out["skipped_messages"] == 0
    by_ex = {ex: v["long_usd"] for ex, v in realized["by_exchange"].items()}
    # USD notionals do not depend on the multiple: 1,000,000 × 1000PEPE at 0.012 = 12,000.
    assert by_ex == pytest.approx({"binance": 12_000.0, "bybit": 5_995.0, "okx": 240.2}, abs=0.01)
    # Open interest in PEPE: Bybit 2,000,000 (both sides) / 2 × 1000, Hyperliquid 9e6 × 1000.
    assert out["open_interest"] == pytest.approx({"bybit": 1e9, "hyperliquid": 9e9})
    # Every print sits on the one ladder near the price, not 1000× away from it.
    rows = [r for r in out["levels"] if r["realized_long_usd"]]
    assert sum(r["realized_long_usd"] for r in rows) == pytest.approx(18_235.2, abs=0.05)
    assert all(1.1e-5 < r["price_low"] < 1.3e-5 for r in rows)


def test_listing_keys_and_their_multiples() -> None:
    assert split_multiple("1000PEPE") == ("PEPE", 1e3)
    assert split_multiple("1000000MOG") == ("MOG", 1e6)
    assert split_multiple("1MBABYDOGE") == ("BABYDOGE", 1e6)
    assert split_multiple("SHIB1000") == ("SHIB", 1e3)
    assert split_multiple("1INCH") == ("1INCH", 1.0) and split_multiple("BTC") == ("BTC", 1.0)
    assert canonical(from_exchange_symbol("bybit", "SHIB1000USDT") or "") == "SHIB"
    for typed in ("1000SHIB", "1000SHIBUSDT", "shib", "SHIB-USDT-SWAP", "1000SHIB/USDT:USDT"):
        assert market_key(typed) == "SHIB"
    # Each exchange is subscribed under its own name for the asset.
    assert exchange_symbol("binance", "SHIB") == "1000SHIBUSDT"
    assert exchange_symbol("bybit", "SHIB") == "SHIB1000USDT"
    assert exchange_symbol("okx", "SHIB") == "SHIB-USDT-SWAP"
    assert hyperliquid.coin_of("SHIB") == "kSHIB" and hyperliquid.coin_of("PEPE") == "kPEPE"
    assert exchange_symbol("binance", "BTC") == "BTCUSDT"


def test_plans_subscribe_each_exchange_under_its_name() -> None:
    s = Settings()
    bin_plan = binance.plan(["PEPE"], s.exchanges["binance"], s.feeds)
    assert "1000pepeusdt@markPrice@1s" in bin_plan.streams[0].url
    by_plan = bybit.plan(["SHIB"], s.exchanges["bybit"], s.feeds)
    assert "allLiquidation.SHIB1000USDT" in by_plan.streams[0].subscribe[0]["args"]  # type: ignore[index]
    okx_plan = okx.plan(["PEPE"], s.exchanges["okx"], s.feeds)
    assert any("instId=PEPE-USDT-SWAP" in q.endpoint for q in okx_plan.polls)
    hl_plan = hyperliquid.plan(["PEPE"], s.exchanges["hyperliquid"], s.feeds)
    coins = {f["subscription"]["coin"] for f in hl_plan.streams[0].subscribe}  # type: ignore[index]
    assert coins == {"kPEPE"}


def test_events_are_rescaled_to_the_asset() -> None:
    ev = Liquidation("binance", "1000PEPE", T0, "long", 0.012, 1_000_000.0, 12_000.0)
    got = to_market_units(ev)
    assert (got.symbol, got.price, got.quantity, got.notional_usd) == (
        "PEPE",
        pytest.approx(1.2e-5),
        1e9,
        12_000.0,
    )
    btc = Liquidation("binance", "BTC", T0, "long", 96_000.0, 1.0, 96_000.0)
    assert to_market_units(btc) is btc


async def test_live_binance_subscribes_1000pepe_and_prices_the_market_per_pepe() -> None:
    """Live, over a loopback speaking Binance's protocol: watching PEPE subscribes Binance's
    1000PEPEUSDT streams, and its messages land on the market PEPE in PEPE units."""
    now = int(time.time() * 1000)
    streams: list[str] = []

    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        streams.append(request.query["streams"])
        mark = envelope(mark_price("1000PEPEUSDT", "0.0120", now), "1000pepeusdt@markPrice@1s")
        await send_json(ws, mark)
        await send_json(
            ws, envelope(force_order("1000PEPEUSDT", "SELL", "1000000", "0.0120", "0.0119", now))
        )
        await read_frames(ws, loop)

    async with Loopback() as loop:
        loop.ws("/market/stream", stream)
        loop.rest("/fapi/v1/openInterest",
                  {"symbol": "1000PEPEUSDT", "openInterest": "2500000", "time": now})  # fmt: skip
        book = {"lastUpdateId": 1, "E": now, "T": now, "bids": [["0.01199", "100000"]],
                "asks": [["0.01201", "100000"]]}  # fmt: skip
        loop.rest("/fapi/v1/depth", book)
        settings = loopback_settings(
            {"binance": Endpoint(f"{loop.ws_base}/market", loop.http)}, exchanges=["binance"]
        )
        engine = Engine()
        task = asyncio.create_task(LiveSource(settings, ["PEPE"]).run(engine))
        try:
            await wait_until(lambda: engine.snapshot("PEPE").realized_count == 1)
            await wait_until(lambda: "binance" in engine.snapshot("PEPE").open_interest)
            snap = engine.snapshot("PEPE")
            assert "1000pepeusdt@markPrice@1s" in streams[0]
            assert "1000pepeusdt@kline_1m" in streams[0]
            assert any("symbol=1000PEPEUSDT" in path for path in loop.requests)
            assert snap.price == pytest.approx(1.2e-5) and snap.price_source == "mark"
            assert snap.realized_long_usd == pytest.approx(12_000.0)
            assert snap.open_interest["binance"] == pytest.approx(2.5e9)  # PEPE, not 1000PEPE
            assert "1000PEPE" not in engine.markets
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
