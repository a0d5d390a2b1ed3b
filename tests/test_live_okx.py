"""OKX v5 swaps: parser units (contracts → base, order side → position side, every detail kept),
the plan, and the live feed against a loopback server speaking OKX's protocol (subscribe acks
per arg, text ping/pong, instruments before the stream, drops mid-burst, bad frames, replay)."""

from __future__ import annotations

import asyncio
import copy
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiohttp import WSMsgType, web
from support.loopback import Loopback, loopback_settings, send_json, stop, wait_until

from liqtui.config import Endpoint, Settings
from liqtui.events import BookDepth, Liquidation, MarketEvent, MarkPrice, OpenInterest, TradeFlow
from liqtui.exchanges import okx
from liqtui.exchanges.common import levels_array, reduce_book
from liqtui.exchanges.spec import NotTracked, ParseError, PartlyBad
from liqtui.feeds.dispatch import deliver
from liqtui.feeds.live import LiveSource
from liqtui.feeds.recording import Recorder
from liqtui.feeds.replay import ReplaySource
from liqtui.model.engine import Engine

# Live events carry the current time: the realized window ends at the receive clock.
T0 = int(time.time() * 1000) - 180_000
MINUTE = T0 - T0 % 60_000
WS_PATH = "/ws/v5/public"
BTC_CT, ETH_CT, IOST_CT = 0.01, 0.1, 10.0


# -- messages shaped like OKX's own -----------------------------------------------------------
def instrument(inst_id: str, ct_val: str, ccy: str, settle: str = "USDT", ct_type: str = "linear"):  # type: ignore[no-untyped-def]
    return {"instType": "SWAP", "instId": inst_id, "uly": inst_id[:-5], "instFamily": inst_id[:-5],
            "settleCcy": settle, "ctVal": ct_val, "ctMult": "1", "ctValCcy": ccy, "ctType": ct_type,
            "lever": "100", "lotSz": "1", "minSz": "1", "tickSz": "0.1", "state": "live",
            "listTime": "1611916828000", "expTime": ""}  # fmt: skip


INSTRUMENTS = {
    "code": "0",
    "msg": "",
    "data": [
        instrument("BTC-USDT-SWAP", "0.01", "BTC"),
        instrument("ETH-USDT-SWAP", "0.1", "ETH"),
        instrument("IOST-USDT-SWAP", "10", "IOST"),
        instrument("BTC-USD-SWAP", "100", "USD", settle="BTC", ct_type="inverse"),
        instrument("BTC-USDC-SWAP", "0.0001", "BTC", settle="USDC"),
    ],
}


def detail(side: str, sz: str, bk_px: str, ts: int, pos_side: str | None = None) -> dict[str, str]:
    pos = pos_side if pos_side is not None else ("long" if side == "sell" else "short")
    return {"bkLoss": "0", "bkPx": bk_px, "ccy": "", "posSide": pos, "side": side, "sz": sz,
            "ts": str(ts)}  # fmt: skip


def liq_entry(inst_id: str, details: list[dict[str, str]]) -> dict[str, object]:
    family = inst_id.removesuffix("-SWAP")
    return {"details": details, "instFamily": family, "instId": inst_id, "instType": "SWAP",
            "uly": family}  # fmt: skip


def liq_push(*entries: dict[str, object]) -> dict[str, object]:
    return {"arg": {"channel": "liquidation-orders", "instType": "SWAP"}, "data": list(entries)}


def channel_push(channel: str, inst_id: str, *items: dict[str, object]) -> dict[str, object]:
    return {"arg": {"channel": channel, "instId": inst_id}, "data": list(items)}


def oi_push(inst_id: str, oi: str, oi_ccy: str | None, ts: int = T0) -> dict[str, object]:
    item: dict[str, object] = {"instType": "SWAP", "instId": inst_id, "oi": oi, "ts": str(ts)}
    if oi_ccy is not None:
        item["oiCcy"] = oi_ccy
    return channel_push("open-interest", inst_id, item)


def mark_push(inst_id: str, px: str, ts: int = T0) -> dict[str, object]:
    item = {"instType": "SWAP", "instId": inst_id, "markPx": px, "ts": str(ts)}
    return channel_push("mark-price", inst_id, item)


def funding_push(inst_id: str, rate: str, ts: int = T0) -> dict[str, object]:
    item = {"fundingRate": rate, "fundingTime": str(MINUTE + 3_600_000), "instId": inst_id,
            "instType": "SWAP", "method": "current_period", "maxFundingRate": "0.00375",
            "minFundingRate": "-0.00375", "nextFundingRate": "", "nextFundingTime":
            str(MINUTE + 7_200_000), "premium": "0.0001", "settFundingRate": "0.0001",
            "settState": "settled", "ts": str(ts)}  # fmt: skip
    return channel_push("funding-rate", inst_id, item)


def trade(inst_id: str, trade_id: int, px: str, sz: str, side: str, ts: int) -> dict[str, object]:
    return {"instId": inst_id, "tradeId": str(trade_id), "px": px, "sz": sz, "side": side,
            "ts": str(ts), "count": "1", "source": "0"}  # fmt: skip


def book_response(ts: int = T0) -> dict[str, object]:
    # OKX levels: [price, size in contracts, deprecated "0", number of orders]
    asks = [["96010", "800", "0", "3"], ["96500", "3000", "0", "9"], ["99000", "4000", "0", "2"]]
    bids = [["96000", "1000", "0", "4"], ["95500", "2000", "0", "7"], ["94000", "5000", "0", "1"]]
    return {"code": "0", "msg": "", "data": [{"asks": asks, "bids": bids, "ts": str(ts)}]}


def learned_parser() -> okx.Parser:
    parser = okx.Parser()
    assert parser.rest(okx.INSTRUMENTS_ENDPOINT, INSTRUMENTS) == []
    return parser


# -- parser units ------------------------------------------------------------------------------
def test_instruments_keep_linear_usdt_contract_sizes_only() -> None:
    parser = learned_parser()
    assert parser.contract_sizes == {
        "BTC-USDT-SWAP": BTC_CT, "ETH-USDT-SWAP": ETH_CT, "IOST-USDT-SWAP": IOST_CT,
    }  # fmt: skip
    with pytest.raises(ParseError, match="50011"):
        parser.rest(
            okx.INSTRUMENTS_ENDPOINT, {"code": "50011", "msg": "Too Many Requests", "data": []}
        )
    with pytest.raises(ParseError):
        parser.rest(okx.INSTRUMENTS_ENDPOINT, {"code": "0", "msg": "", "data": []})
    assert parser.rest("/api/v5/public/time", {"code": "0", "data": []}) is None


def test_official_sample_buy_order_liquidates_a_short_in_base_units() -> None:
    parser = learned_parser()
    # The OKX docs sample verbatim: posSide short, order side buy, 13 contracts at bkPx 0.007831.
    sample = {"arg": {"channel": "liquidation-orders", "instType": "SWAP"},
              "data": [{"details": [{"bkLoss": "0", "bkPx": "0.007831", "ccy": "",
                                     "posSide": "short", "side": "buy", "sz": "13",
                                     "ts": "1692266434010"}],
                        "instFamily": "IOST-USDT", "instId": "IOST-USDT-SWAP", "instType": "SWAP",
                        "uly": "IOST-USDT"}]}  # fmt: skip
    (ev,) = parser(sample)  # type: ignore[misc]
    assert isinstance(ev, Liquidation)
    assert (ev.exchange, ev.symbol, ev.side, ev.time_ms) == ("okx", "IOST", "short", 1692266434010)
    assert ev.quantity == pytest.approx(13 * IOST_CT)  # contracts × ctVal, never contracts
    assert ev.price == 0.007831  # bkPx, placed as OKX reported it (no maintenance-rate shift)
    assert ev.notional_usd == pytest.approx(ev.quantity * ev.price)


def test_every_data_entry_and_every_detail_is_kept_and_inverse_is_skipped() -> None:
    parser = learned_parser()
    msg = liq_push(
        liq_entry("BTC-USDT-SWAP", [detail("sell", "13", "95000.5", T0),
                                    detail("sell", "7", "94990", T0 + 1, pos_side="net"),
                                    detail("buy", "2", "97000", T0 + 2)]),
        liq_entry("BTC-USD-SWAP", [detail("sell", "100", "95000", T0 + 3)]),  # inverse: untracked
        liq_entry("ETH-USDT-SWAP", [detail("buy", "40", "3400", T0 + 4),
                                    detail("sell", "5", "3300", T0 + 5)]),
    )  # fmt: skip
    events = parser(msg)
    assert events is not None and len(events) == 5  # ccxt would keep 2 (details[0] only)
    got = [(e.symbol, e.side, round(e.quantity, 9), e.price) for e in events]  # type: ignore[union-attr]
    assert got == [
        ("BTC", "long", 0.13, 95000.5),
        ("BTC", "long", 0.07, 94990.0),
        ("BTC", "short", 0.02, 97000.0),
        ("ETH", "short", 4.0, 3400.0),
        ("ETH", "long", 0.5, 3300.0),
    ]
    long_print = events[0]
    assert isinstance(long_print, Liquidation)
    assert long_print.notional_usd == pytest.approx(0.13 * 95000.5)  # sz × ctVal × bkPx


def test_untracked_only_push_and_unknown_contract_size() -> None:
    parser = learned_parser()
    with pytest.raises(NotTracked):
        parser(liq_push(liq_entry("BTC-USD-SWAP", [detail("sell", "1", "95000", T0)]),
                        liq_entry("BTC-USDC-SWAP", [detail("buy", "1", "95000", T0)])))  # fmt: skip
    unknown = liq_push(liq_entry("NEW-USDT-SWAP", [detail("sell", "1", "2.5", T0)]))
    with pytest.raises(ParseError, match="contract size unknown for NEW-USDT-SWAP"):
        parser(unknown)
    with pytest.raises(ParseError, match="contract size unknown"):
        okx.Parser()(liq_push(liq_entry("BTC-USDT-SWAP", [detail("sell", "1", "95000", T0)])))
    # A known swap next to the unknown one is still kept.
    mixed = copy.deepcopy(unknown)
    mixed["data"].append(liq_entry("BTC-USDT-SWAP", [detail("sell", "1", "95000", T0)]))  # type: ignore[attr-defined]
    assert [e.symbol for e in parser(mixed) or []] == ["BTC"]
    assert parser(liq_push()) is None


def test_open_interest_in_base_units() -> None:
    parser = learned_parser()
    (oi,) = parser(oi_push("BTC-USDT-SWAP", "2125419", "21254.19"))  # type: ignore[misc]
    assert isinstance(oi, OpenInterest)
    assert (oi.symbol, oi.open_interest, oi.time_ms) == ("BTC", 21254.19, T0)  # oiCcy, not oi
    (oi,) = parser(oi_push("ETH-USDT-SWAP", "5000", None))  # type: ignore[misc]
    assert oi.open_interest == pytest.approx(5000 * ETH_CT)  # type: ignore[union-attr]
    (oi,) = parser(oi_push("ETH-USDT-SWAP", "5000", ""))  # type: ignore[misc]
    assert oi.open_interest == pytest.approx(500.0)  # type: ignore[union-attr]
    with pytest.raises(NotTracked):  # the docs' own sample is an inverse swap
        parser(oi_push("LTC-USD-SWAP", "5000", "555.55"))
    with pytest.raises(ParseError, match="contract size unknown"):
        okx.Parser()(oi_push("BTC-USDT-SWAP", "1", "0.01"))


def test_mark_price_carries_the_latest_funding_rate() -> None:
    parser = learned_parser()
    (mark,) = parser(mark_push("BTC-USDT-SWAP", "42310.6"))  # type: ignore[misc]
    assert isinstance(mark, MarkPrice)
    assert (mark.symbol, mark.mark_price, mark.funding_rate) == ("BTC", 42310.6, None)
    assert parser(funding_push("BTC-USDT-SWAP", "0.0001875391284828")) == []
    (mark,) = parser(mark_push("BTC-USDT-SWAP", "42311"))  # type: ignore[misc]
    assert mark.funding_rate == pytest.approx(0.0001875391284828)  # type: ignore[union-attr]
    (other,) = parser(mark_push("ETH-USDT-SWAP", "3400"))  # type: ignore[misc]
    assert other.funding_rate is None  # type: ignore[union-attr]
    parser(funding_push("BTC-USDT-SWAP", "-0.0002"))
    (mark,) = parser(mark_push("BTC-USDT-SWAP", "42312"))  # type: ignore[misc]
    assert mark.funding_rate == -0.0002  # type: ignore[union-attr]
    # A push with only the next rate (seen from OKX) is valid and changes nothing.
    only_next = funding_push("BTC-USDT-SWAP", "0.0003")
    del only_next["data"][0]["fundingRate"]  # type: ignore[index]
    assert parser(only_next) is None
    (mark,) = parser(mark_push("BTC-USDT-SWAP", "42313"))  # type: ignore[misc]
    assert mark.funding_rate == -0.0002  # type: ignore[union-attr]


def test_trades_aggregate_per_closed_minute_in_base_units() -> None:
    parser = learned_parser()
    m = MINUTE
    first = [trade("BTC-USDT-SWAP", 1, "96000", "100", "buy", m + 1_000),
             trade("BTC-USDT-SWAP", 2, "96100", "50", "sell", m + 2_000)]  # fmt: skip
    assert parser(channel_push("trades", "BTC-USDT-SWAP", *first)) == []  # minute still open
    # The same trades again (an overlapping connection) and one in the next minute.
    again = [*first, trade("BTC-USDT-SWAP", 3, "96200", "30", "sell", m + 30_000),
             trade("BTC-USDT-SWAP", 4, "96300", "10", "buy", m + 60_500)]  # fmt: skip
    (flow,) = parser(channel_push("trades", "BTC-USDT-SWAP", *again))  # type: ignore[misc]
    assert isinstance(flow, TradeFlow)
    assert (flow.symbol, flow.time_ms, flow.interval_ms) == ("BTC", m + 60_000, 60_000)
    assert flow.taker_buy_base == pytest.approx(100 * BTC_CT)
    assert flow.taker_sell_base == pytest.approx(80 * BTC_CT)
    quote = (96000 * 100 + 96100 * 50 + 96200 * 30) * BTC_CT
    assert flow.vwap == pytest.approx(quote / (180 * BTC_CT))
    assert (flow.high, flow.low) == (96200.0, 96000.0)
    # A late trade of the emitted minute is dropped, not added to the open one.
    late = trade("BTC-USDT-SWAP", 5, "1", "1", "buy", m + 5_000)
    assert parser(channel_push("trades", "BTC-USDT-SWAP", late)) == []
    later = trade("BTC-USDT-SWAP", 6, "96400", "1", "sell", m + 120_000)
    (flow,) = parser(channel_push("trades", "BTC-USDT-SWAP", later))  # type: ignore[misc]
    assert flow.taker_buy_base == pytest.approx(0.1) and flow.taker_sell_base == 0.0  # type: ignore[union-attr]
    assert flow.low == 96300.0  # type: ignore[union-attr]


def test_rest_book_sizes_are_contracts() -> None:
    parser = learned_parser()
    endpoint = "/api/v5/market/books?instId=BTC-USDT-SWAP&sz=400"
    (depth,) = parser.rest(endpoint, book_response())  # type: ignore[misc]
    assert isinstance(depth, BookDepth)
    book = book_response()["data"][0]  # type: ignore[index]
    expected = reduce_book("okx", "BTC", T0, levels_array(book["bids"], "b"),
                           levels_array(book["asks"], "a"), size_to_base=BTC_CT)  # fmt: skip
    assert depth == expected
    assert depth.bid_usd[0] == pytest.approx(96000 * 1000 * BTC_CT)  # 10 BTC, not 1000
    with pytest.raises(ParseError, match="51001"):
        parser.rest(endpoint, {"code": "51001", "msg": "Instrument ID does not exist", "data": []})
    with pytest.raises(ParseError, match="contract size unknown"):
        okx.Parser().rest(endpoint, book_response())
    with pytest.raises(ParseError, match="instId"):
        parser.rest("/api/v5/market/books?sz=400", book_response())


def test_acks_pongs_and_errors() -> None:
    parser = learned_parser()
    ack = {"event": "subscribe", "arg": {"channel": "liquidation-orders", "instType": "SWAP"},
           "connId": "a4d3ae55"}  # fmt: skip
    assert parser(ack) is None
    assert parser("pong") is None
    assert (
        parser({"event": "notice", "code": "64008", "msg": "service upgrade", "connId": "1"})
        is None
    )
    assert parser(channel_push("tickers", "BTC-USDT-SWAP", {"instId": "BTC-USDT-SWAP"})) is None
    error = {"event": "error", "code": "60018",
             "msg": "Wrong URL or channel:liquidation-orders,instId:BTC-USDT-SWAP doesn't exist.",
             "connId": "a4d3ae55"}  # fmt: skip
    with pytest.raises(ParseError, match="60018"):
        parser(error)


def _liq(**changes: object) -> dict[str, object]:
    d: dict[str, object] = detail("sell", "13", "95000", T0)
    d.update(changes)
    return liq_push(liq_entry("BTC-USDT-SWAP", [d]))  # type: ignore[list-item]


def _without(key: str) -> dict[str, object]:
    msg = _liq()
    del msg["data"][0]["details"][0][key]  # type: ignore[index]
    return msg


MALFORMED: list[object] = [
    "not json", "", 42, None, [], ["pong"], {}, {"arg": {}}, {"data": []},
    {"event": "login"},
    {"arg": "liquidation-orders", "data": []},
    {"arg": {"channel": "liquidation-orders"}, "data": {}},
    {"arg": {"channel": "liquidation-orders"}},
    liq_push("BTC-USDT-SWAP"),  # type: ignore[arg-type]
    liq_push({"instId": "BTC-USDT-SWAP"}),
    liq_push({"instId": "BTC-USDT-SWAP", "details": {}}),
    liq_push({"instId": "BTC-USDT-SWAP", "details": ["x"]}),
    liq_push({"details": [detail("sell", "1", "1", T0)]}),
    liq_push(liq_entry("garbage", [detail("sell", "1", "1", T0)])),
    liq_push({"instId": 42, "details": [detail("sell", "1", "1", T0)]}),
    liq_push({"instId": ["x"], "details": [detail("sell", "1", "1", T0)]}),
    _liq(side="SELL"), _liq(side="close"), _liq(side=None),
    _liq(posSide="short"),  # a sell order cannot close a short
    _liq(posSide="both"),
    _liq(sz="0"), _liq(sz="-1"), _liq(sz="abc"), _liq(sz="NaN"), _liq(sz=None), _liq(sz=True),
    _liq(bkPx="0"), _liq(bkPx="inf"), _liq(bkPx=[]),
    _liq(ts="abc"), _liq(ts="12"), _liq(ts=1.5), _liq(ts="99999999999999"),
    _without("side"), _without("sz"), _without("bkPx"), _without("ts"),
    oi_push("BTC-USDT-SWAP", "1", "-5"), oi_push("BTC-USDT-SWAP", "x", None),
    oi_push("BTC-USDT-SWAP", "1", "1", ts=0),
    channel_push("open-interest", "BTC-USDT-SWAP", {"oi": "1", "ts": str(T0)}),
    channel_push("open-interest", "BTC-USDT-SWAP", "x"),
    mark_push("BTC-USDT-SWAP", "0"), mark_push("BTC-USDT-SWAP", "x"),
    channel_push("mark-price", "BTC-USDT-SWAP", {"instId": "BTC-USDT-SWAP", "ts": str(T0)}),
    funding_push("BTC-USDT-SWAP", "x"),
    channel_push("funding-rate", "BTC-USDT-SWAP", {"instId": "BTC-USDT-SWAP"}),
    channel_push("trades", "BTC-USDT-SWAP", trade("BTC-USDT-SWAP", 1, "0", "1", "buy", T0)),
    channel_push("trades", "BTC-USDT-SWAP", trade("BTC-USDT-SWAP", 1, "1", "1", "BUY", T0)),
    channel_push("trades", "BTC-USDT-SWAP", trade("BTC-USDT-SWAP", 1, "1", "-1", "buy", T0)),
    channel_push("trades", "BTC-USDT-SWAP", {"instId": "BTC-USDT-SWAP", "px": "1"}),
    channel_push("trades", "NEW-USDT-SWAP", trade("NEW-USDT-SWAP", 1, "1", "1", "buy", T0)),
    channel_push("trades", "BTC-USDT-SWAP", [1, 2]),
]  # fmt: skip


@pytest.mark.parametrize("msg", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed_messages_raise_parse_error_only(msg: object) -> None:
    parser = learned_parser()
    with pytest.raises(ParseError):
        parser(copy.deepcopy(msg))


MALFORMED_REST: list[tuple[str, object]] = [
    (okx.INSTRUMENTS_ENDPOINT, []),
    (okx.INSTRUMENTS_ENDPOINT, "<html>"),
    (okx.INSTRUMENTS_ENDPOINT, {"data": []}),
    (okx.INSTRUMENTS_ENDPOINT, {"code": "0", "data": {}}),
    (okx.INSTRUMENTS_ENDPOINT, {"code": "0", "data": ["x"]}),
    (okx.INSTRUMENTS_ENDPOINT, {"code": "0", "data": [instrument("BTC-USDT-SWAP", "0", "BTC")]}),
    (okx.INSTRUMENTS_ENDPOINT, {"code": "0", "data": [instrument("BTC-USDT-SWAP", "x", "BTC")]}),
    ("/api/v5/market/books?instId=BTC-USDT-SWAP&sz=400", {"code": "0", "data": []}),
    ("/api/v5/market/books?instId=BTC-USDT-SWAP&sz=400", {"code": "0", "data": ["x"]}),
    ("/api/v5/market/books?instId=BTC-USDT-SWAP&sz=400",
     {"code": "0", "data": [{"asks": [["1"]], "bids": [["1", "1"]], "ts": str(T0)}]}),
    ("/api/v5/market/books?instId=BTC-USDT-SWAP&sz=400",
     {"code": "0", "data": [{"asks": [["90", "1"]], "bids": [["100", "1"]], "ts": str(T0)}]}),
    ("/api/v5/market/books?instId=BTC-USDT-SWAP&sz=400",
     {"code": "0", "data": [{"asks": [], "bids": [["100", "1"]], "ts": str(T0)}]}),
    ("/api/v5/market/books?instId=BTC-USDT-SWAP&sz=400",
     {"code": "0", "data": [{"asks": [["101", "1"]], "bids": [["100", "1"]]}]}),
    ("/api/v5/market/books?instId=garbage&sz=400", book_response()),
]  # fmt: skip


@pytest.mark.parametrize(("endpoint", "msg"), MALFORMED_REST, ids=range(len(MALFORMED_REST)))
def test_malformed_rest_raises_parse_error_only(endpoint: str, msg: object) -> None:
    with pytest.raises(ParseError):
        learned_parser().rest(endpoint, copy.deepcopy(msg))


def test_bad_message_leaves_trade_state_untouched() -> None:
    parser = learned_parser()
    good = trade("BTC-USDT-SWAP", 1, "96000", "10", "buy", MINUTE + 1_000)
    bad = trade("BTC-USDT-SWAP", 2, "x", "10", "buy", MINUTE + 61_000)
    parser(channel_push("trades", "BTC-USDT-SWAP", good))
    with pytest.raises(ParseError):
        parser(channel_push("trades", "BTC-USDT-SWAP", bad))
    nxt = trade("BTC-USDT-SWAP", 3, "96000", "10", "sell", MINUTE + 62_000)
    (flow,) = parser(channel_push("trades", "BTC-USDT-SWAP", nxt))  # type: ignore[misc]
    assert flow.taker_buy_base == pytest.approx(0.1) and flow.taker_sell_base == 0  # type: ignore[union-attr]


# -- plan --------------------------------------------------------------------------------------
def test_plan_uses_the_configured_endpoint_and_small_subscribe_frames() -> None:
    s = Settings()
    p = okx.plan(["BTC", "ETH"], s.exchanges["okx"], s.feeds)
    (stream,) = p.streams
    assert stream.url == "wss://ws.okx.com:8443/ws/v5/public"
    assert stream.ping_frame == "ping" and stream.ping_interval_s == 20.0
    assert stream.liquidations_complete is False and stream.stale_after_s == 60.0
    (frame,) = stream.subscribe
    assert frame["op"] == "subscribe"  # type: ignore[index]
    args = frame["args"]  # type: ignore[index]
    assert args[0] == {"channel": "liquidation-orders", "instType": "SWAP"}
    assert {"channel": "open-interest", "instId": "ETH-USDT-SWAP"} in args
    assert {"channel": "trades", "instId": "BTC-USDT-SWAP"} in args
    assert {"channel": "funding-rate", "instId": "BTC-USDT-SWAP"} in args
    assert {"channel": "mark-price", "instId": "ETH-USDT-SWAP"} in args
    (startup,) = p.startup
    assert startup.url == "https://www.okx.com/api/v5/public/instruments?instType=SWAP"
    assert startup.endpoint == okx.INSTRUMENTS_ENDPOINT and startup.interval_s == 0
    books = [q for q in p.polls if q.endpoint.startswith(okx.BOOKS_PATH)]
    assert [q.url for q in books] == [
        "https://www.okx.com/api/v5/market/books?instId=BTC-USDT-SWAP&sz=400",
        "https://www.okx.com/api/v5/market/books?instId=ETH-USDT-SWAP&sz=400",
    ]
    assert all(q.interval_s == 15.0 for q in books)

    custom = Endpoint("ws://proxy.local:9000/okx/ws", "http://proxy.local:9000/okx/")
    p = okx.plan(["BTC"], custom, s.feeds)
    assert p.streams[0].url == "ws://proxy.local:9000/okx/ws"
    assert p.startup[0].url == "http://proxy.local:9000/okx/api/v5/public/instruments?instType=SWAP"


def test_plan_chunks_many_symbols_within_the_frame_limit_and_the_connection_cap() -> None:
    s = Settings()
    markets = [f"COIN{i}" for i in range(300)]
    streams = okx.plan(markets, s.exchanges["okx"], s.feeds).streams
    cap = s.feeds.streams_per_connection
    assert len(streams) == -(-(1 + 4 * 300) // cap)  # liquidations + 4 channels a market
    frames = [f for st in streams for f in st.subscribe]
    assert len(streams[0].subscribe) > 1
    sizes = [len(json.dumps(f, separators=(",", ":"))) for f in frames]
    assert max(sizes) <= okx.MAX_FRAME_BYTES
    per_connection = [sum(len(f["args"]) for f in st.subscribe) for st in streams]  # type: ignore[index]
    assert max(per_connection) <= cap
    args = [a for f in frames for a in f["args"]]  # type: ignore[index]
    assert len(args) == 1 + 4 * 300 and len({json.dumps(a) for a in args}) == len(args)
    assert args[0] == {"channel": "liquidation-orders", "instType": "SWAP"}  # on the first only
    assert all(f["op"] == "subscribe" for f in frames)  # type: ignore[index]


# -- loopback exchange -------------------------------------------------------------------------
def expected_args(symbols: list[str]) -> list[dict[str, str]]:
    args = [{"channel": "liquidation-orders", "instType": "SWAP"}]
    for s in symbols:
        for ch in ("open-interest", "mark-price", "funding-rate", "trades"):
            args.append({"channel": ch, "instId": f"{s}-USDT-SWAP"})
    return args


Pushes = Callable[[web.WebSocketResponse, int], Awaitable[None]]


@dataclass
class OkxServer:
    """Speaks OKX's public WebSocket: subscribe requests acked per arg (unknown args get a
    60018 error), the text "ping" answered with "pong"; `pushes` runs once subscribed."""

    pushes: Pushes
    symbols: list[str] = field(default_factory=lambda: ["BTC"])
    pings: int = 0
    problems: list[str] = field(default_factory=list)
    subscriptions: list[list[dict[str, str]]] = field(default_factory=list)  # per connection
    instruments_at_connect: list[int] = field(default_factory=list)

    async def __call__(
        self, ws: web.WebSocketResponse, request: web.Request, loop: Loopback
    ) -> None:
        conn = loop.ws_connections
        self.instruments_at_connect.append(
            sum(r.startswith(okx.INSTRUMENTS_PATH) for r in loop.requests)
        )
        wanted = {json.dumps(a, sort_keys=True) for a in expected_args(self.symbols)}
        got: list[dict[str, str]] = []
        self.subscriptions.append(got)
        subscribed = asyncio.Event()

        async def read() -> None:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                loop.received.append(msg.data)
                if msg.data == "ping":
                    self.pings += 1
                    await ws.send_str("pong")
                    continue
                req = json.loads(msg.data)
                if req.get("op") != "subscribe" or not isinstance(req.get("args"), list):
                    self.problems.append(f"unexpected frame {msg.data}")
                    continue
                for arg in req["args"]:
                    if json.dumps(arg, sort_keys=True) not in wanted:
                        self.problems.append(f"unexpected arg {arg}")
                        error = {"event": "error", "code": "60018",
                                 "msg": f"Wrong URL or channel:{arg}", "connId": "c0"}  # fmt: skip
                        await send_json(ws, error)
                        continue
                    got.append(arg)
                    await send_json(ws, {"event": "subscribe", "arg": arg, "connId": f"c{conn}"})
                if {json.dumps(a, sort_keys=True) for a in got} == wanted:
                    subscribed.set()

        reader = asyncio.create_task(read())
        try:
            await asyncio.wait_for(subscribed.wait(), 5)
            await self.pushes(ws, conn)
            await reader
        finally:
            reader.cancel()


def settings_for(loop: Loopback, **feeds: str) -> Settings:
    endpoint = Endpoint(f"{loop.ws_base}{WS_PATH}", loop.http)
    return loopback_settings({"okx": endpoint}, exchanges=["okx"], **feeds)


def rest_routes(loop: Loopback) -> None:
    loop.rest(okx.INSTRUMENTS_PATH, INSTRUMENTS)
    loop.rest(okx.BOOKS_PATH, book_response())


class SpyEngine(Engine):
    """The engine, remembering every event it was given."""

    def __init__(self) -> None:
        super().__init__()
        self.applied: list[MarketEvent] = []

    def apply(self, event: MarketEvent) -> None:
        self.applied.append(event)
        super().apply(event)


def cascade(n: int, start: int = 0) -> list[dict[str, object]]:
    """n liquidation pushes, each with a BTC entry of two prints and an inverse entry."""
    out = []
    for i in range(start, start + n):
        out.append(liq_push(
            liq_entry("BTC-USDT-SWAP", [detail("sell", str(i + 1), f"{95000 + i}", T0 + i),
                                        detail("buy", str(i + 2), f"{97000 + i}", T0 + i)]),
            liq_entry("BTC-USD-SWAP", [detail("sell", "100", "95000", T0 + i)]),
        ))  # fmt: skip
    return out


def cascade_totals(n: int) -> tuple[float, float]:
    long_usd = sum((i + 1) * BTC_CT * (95000 + i) for i in range(n))
    short_usd = sum((i + 2) * BTC_CT * (97000 + i) for i in range(n))
    return long_usd, short_usd


async def test_live_feed_fills_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(okx, "PING_INTERVAL_S", 0.05)

    async def pushes(ws: web.WebSocketResponse, conn: int) -> None:
        await send_json(ws, funding_push("BTC-USDT-SWAP", "0.00015"))
        await send_json(ws, mark_push("BTC-USDT-SWAP", "96005.5", T0))
        await send_json(ws, mark_push("ETH-USDT-SWAP", "3400", T0))
        await send_json(ws, oi_push("BTC-USDT-SWAP", "2125419", "21254.19"))
        await send_json(ws, liq_push(
            liq_entry("BTC-USDT-SWAP", [detail("sell", "13", "95000", T0),
                                        detail("sell", "7", "94990", T0 + 1, pos_side="net"),
                                        detail("buy", "2", "97000", T0 + 2)]),
            liq_entry("BTC-USD-SWAP", [detail("sell", "100", "95000", T0 + 3)]),
            liq_entry("ETH-USDT-SWAP", [detail("buy", "40", "3400", T0 + 4),
                                        detail("sell", "5", "3300", T0 + 5)]),
        ))  # fmt: skip
        await send_json(ws, liq_push(liq_entry("BTC-USD-SWAP", [detail("buy", "1", "1", T0)])))
        trades = [trade("BTC-USDT-SWAP", 1, "96000", "100", "buy", MINUTE + 1_000),
                  trade("BTC-USDT-SWAP", 2, "96100", "50", "sell", MINUTE + 2_000),
                  trade("BTC-USDT-SWAP", 3, "96200", "10", "buy", MINUTE + 61_000)]  # fmt: skip
        for t in trades:
            await send_json(ws, channel_push("trades", "BTC-USDT-SWAP", t))

    server = OkxServer(pushes, symbols=["BTC", "ETH"])
    async with Loopback() as loop:
        loop.ws(WS_PATH, server)
        rest_routes(loop)
        engine = SpyEngine()
        task = asyncio.create_task(LiveSource(settings_for(loop), ["BTC", "ETH"]).run(engine))
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 3)
            await wait_until(lambda: any(isinstance(e, TradeFlow) for e in engine.applied))
            await wait_until(lambda: server.pings >= 2)  # the text ping, answered with "pong"
            await wait_until(lambda: any(isinstance(e, BookDepth) for e in engine.applied))
            assert server.problems == []
            assert server.instruments_at_connect[0] >= 1  # contract sizes before the stream
            assert loop.received[0].startswith('{"op":"subscribe"')
            snap = engine.snapshot("BTC")
            # The mark (T0) is 3 minutes old by now. The trade minute that closed after it is
            # newer, so it prices the market (its last trade, 96,100); 2 minutes old or more
            # too, so the price is stale.
            assert engine.markets["BTC"].marks["okx"] == (96005.5, T0)
            where = (snap.price, snap.price_source, snap.price_exchanges, snap.price_stale)
            assert where == (96100.0, "trades", ("okx",), True)
            assert snap.price_time_ms == MINUTE + 60_000
            assert snap.funding["okx"] == 0.00015
            assert snap.open_interest["okx"] == 21254.19
            assert snap.realized_long_usd == pytest.approx(95000 * 0.13 + 94990 * 0.07)
            assert snap.realized_short_usd == pytest.approx(97000 * 0.02)
            eth = engine.snapshot("ETH")
            assert eth.realized_count == 2
            assert eth.realized_short_usd == pytest.approx(4.0 * 3400)
            (flow,) = [e for e in engine.applied if isinstance(e, TradeFlow)]
            assert (flow.taker_buy_base, flow.taker_sell_base) == pytest.approx((1.0, 0.5))
            (depth,) = {e for e in engine.applied if isinstance(e, BookDepth) and e.symbol == "BTC"}
            assert depth.bid_usd[0] == pytest.approx(96000 * 1000 * BTC_CT)
            health = engine.feeds["okx"]
            assert health.state == "connected" and health.liquidations_complete is False
            assert health.skipped == 0
            await wait_until(lambda: health.ignored >= 1 + 9 + 2)  # untracked push, acks, pongs
            assert not any(e.symbol not in ("BTC", "ETH") for e in engine.applied)
        finally:
            await stop(task)


async def test_drop_mid_burst_resubscribes_loses_nothing_and_counts_overlap_once() -> None:
    messages = cascade(100)

    async def pushes(ws: web.WebSocketResponse, conn: int) -> None:
        if conn == 1:
            for msg in messages[:60]:
                await send_json(ws, msg)
            await ws.close()  # killed in the middle of the cascade
            return
        for msg in messages[55:]:  # the new connection repeats the last 5 pushes (10 prints)
            await send_json(ws, msg)

    server = OkxServer(pushes)
    async with Loopback() as loop:
        loop.ws(WS_PATH, server)
        rest_routes(loop)
        engine = Engine()
        source = LiveSource(settings_for(loop), ["BTC"])
        task = asyncio.create_task(source.run(engine))
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count >= 200)
            await asyncio.sleep(0.1)
            snap = engine.snapshot("BTC")
            assert snap.realized_count == 200 and snap.duplicates == 10
            long_usd, short_usd = cascade_totals(100)
            assert snap.realized_long_usd == pytest.approx(long_usd)
            assert snap.realized_short_usd == pytest.approx(short_usd)
            assert source.clients[0].connections == 2 and loop.ws_connections == 2
            assert len(server.subscriptions) == 2  # resubscribed on the new connection
            assert all(len(s) == len(expected_args(["BTC"])) for s in server.subscriptions)
            assert server.problems == []
            assert engine.feeds["okx"].skipped == 0
        finally:
            await stop(task)


async def test_malformed_frames_are_counted_and_the_stream_keeps_going() -> None:
    async def pushes(ws: web.WebSocketResponse, conn: int) -> None:
        await ws.send_str('{"arg": {"channel": "liquidation-orders"}, "data": [{')
        await ws.send_str("not json")
        await send_json(ws, {"event": "error", "code": "60018", "msg": "Wrong URL", "connId": "c1"})
        await send_json(ws, _liq(sz="abc"))
        await ws.send_bytes(b"\xff\xfe")
        await send_json(ws, liq_push(liq_entry("NEW-USDT-SWAP", [detail("sell", "1", "2", T0)])))
        await send_json(ws, cascade(1)[0])

    async with Loopback() as loop:
        loop.ws(WS_PATH, OkxServer(pushes))
        rest_routes(loop)
        loop.rest(okx.BOOKS_PATH, {"code": "50011", "msg": "Too Many Requests", "data": []})
        engine = Engine()
        task = asyncio.create_task(LiveSource(settings_for(loop), ["BTC"]).run(engine))
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 2)
            await wait_until(lambda: engine.feeds["okx"].skipped == 7)  # 6 frames + the book
            health = engine.feeds["okx"]
            assert health.state == "connected" and health.liquidations_complete is False
        finally:
            await stop(task)


async def test_startup_retries_instruments_before_streaming() -> None:
    calls = {"n": 0}

    async def instruments(request: web.Request, loop: Loopback) -> web.StreamResponse:
        calls["n"] += 1
        if calls["n"] == 1:
            return web.Response(status=503)
        return web.json_response(INSTRUMENTS)

    async def pushes(ws: web.WebSocketResponse, conn: int) -> None:
        await send_json(ws, cascade(1)[0])

    server = OkxServer(pushes)
    async with Loopback() as loop:
        loop.ws(WS_PATH, server)
        loop.rest(okx.INSTRUMENTS_PATH, instruments)
        loop.rest(okx.BOOKS_PATH, book_response())
        engine = Engine()
        task = asyncio.create_task(LiveSource(settings_for(loop), ["BTC"]).run(engine))
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 2)
            assert server.instruments_at_connect[0] == 2  # the 503, then the retry
            assert engine.feeds["okx"].skipped == 0
        finally:
            await stop(task)


async def test_recording_replays_to_the_same_model(tmp_path: Path) -> None:
    async def pushes(ws: web.WebSocketResponse, conn: int) -> None:
        await send_json(ws, mark_push("BTC-USDT-SWAP", "96005.5", T0))
        await send_json(ws, oi_push("BTC-USDT-SWAP", "2125419", None))
        for msg in cascade(30):
            await send_json(ws, msg)
        await ws.send_str("pong")

    path = tmp_path / "rec.jsonl"
    async with Loopback() as loop:
        loop.ws(WS_PATH, OkxServer(pushes))
        rest_routes(loop)
        live = Engine()
        recorder = Recorder(path)
        task = asyncio.create_task(
            LiveSource(settings_for(loop), ["BTC"], recorder=recorder).run(live)
        )
        try:
            await wait_until(lambda: live.snapshot("BTC").realized_count == 60)
            await wait_until(lambda: "okx" in live.snapshot("BTC").open_interest)
        finally:
            await stop(task)
            recorder.close()
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert lines[0]["rest"] == okx.INSTRUMENTS_ENDPOINT  # contract sizes come first
    assert "pong" in [x["msg"] for x in lines]
    replayed = Engine()
    ReplaySource(path, speed=None).run_sync(replayed)
    a, b = live.snapshot("BTC"), replayed.snapshot("BTC")
    assert (b.realized_count, b.duplicates) == (a.realized_count, a.duplicates) == (60, 0)
    assert b.realized_long_usd == pytest.approx(a.realized_long_usd)
    assert b.realized_short_usd == pytest.approx(a.realized_short_usd)
    assert b.open_interest == a.open_interest == {"okx": pytest.approx(2125419 * BTC_CT)}
    assert replayed.feeds["okx"].skipped == 0


def test_a_malformed_entry_costs_only_itself_in_a_liquidation_push() -> None:
    """Issue 11 item 11, on OKX: one bad `data[]` entry must not drop the others."""
    push = liq_push(
        liq_entry("BTC-USDT-SWAP", [detail("sell", "2", "95000", T0)]),
        liq_entry("ETH-USDT-SWAP", [detail("sell", "abc", "3400", T0)]),  # malformed size
        liq_entry("BTC-USDT-SWAP", [detail("buy", "3", "96000", T0 + 1)]),
    )
    with pytest.raises(PartlyBad) as info:
        learned_parser()(push)
    kept = info.value.events
    assert [(e.side, e.price) for e in kept] == [("long", 95000.0), ("short", 96000.0)]  # type: ignore[union-attr]
    assert len(info.value.errors) == 1 and "sz" in info.value.errors[0]
    # Through dispatch: the valid prints reach the model, the bad entry counts once.
    engine = Engine()
    health = engine.feed("okx")
    deliver(
        copy.deepcopy(push), exchange="okx", parser=learned_parser(), sink=engine,
        health=health, receive_ms=T0 + 5,
    )  # fmt: skip
    assert engine.snapshot("BTC").realized_count == 2
    assert health.skipped == 1
