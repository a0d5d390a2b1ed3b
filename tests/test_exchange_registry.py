"""The exchange registry: every built-in spec is complete, and a fifth exchange is one module.

`toy` below is what docs/exchanges.md walks through: a spec registered in a test reaches config
validation, the default endpoints, the parsers, market names, the margin maths and a live
session against a loopback server, with nothing else edited.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import json
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from aiohttp import web
from support.loopback import Loopback, loopback_settings, read_frames, wait_until

from liqtui import exchanges
from liqtui.config import ConfigError, Endpoint, Feeds, Settings, load_settings
from liqtui.events import Liquidation, MarketEvent
from liqtui.exchanges.common import field, positive, timestamp_ms
from liqtui.exchanges.spec import (
    Endpoints,
    ExchangeSpec,
    FeedOptions,
    FeedPlan,
    MarginRule,
    NotTracked,
    ParseError,
    PollSpec,
    RateLimit,
    StreamSpec,
    parse_duration,
)
from liqtui.feeds.live import LiveSource
from liqtui.markets import exchange_symbol, market_of_symbol, split_multiple
from liqtui.model.engine import Engine
from liqtui.model.mechanics import liquidation_price

T0 = 1_767_225_600_000


# -- a toy fifth exchange, as one module would define it -------------------------------------
TOY = "toy"


def toy_to_symbol(key: str) -> str:
    return f"{key}-PERP"


def toy_from_symbol(symbol: str) -> str | None:
    return symbol.removesuffix("-PERP") if symbol.endswith("-PERP") else None


def _toy_market(symbol: object) -> str:
    market = market_of_symbol(TOY, symbol)
    if market is None:
        if isinstance(symbol, str) and symbol.endswith("-SPOT"):
            raise NotTracked(symbol)
        raise ParseError(f"unknown symbol {symbol!r}")
    return market


class ToyParser:
    """{"liq": {"s": "BTC-PERP", "side": "long", "px": "100", "qty": "2", "t": ms}}."""

    def __call__(self, msg: object) -> list[MarketEvent] | None:
        if not isinstance(msg, dict):
            raise ParseError("expected an object")
        if msg.get("op") == "subscribed":
            return None
        liq = field(msg, "liq", "toy")
        if not isinstance(liq, dict):
            raise ParseError("liq is not an object")
        side = liq.get("side")
        if side not in ("long", "short"):
            raise ParseError(f"side {side!r}")
        price = positive(field(liq, "px", "liq"), "liq.px")
        qty = positive(field(liq, "qty", "liq"), "liq.qty")
        return [
            Liquidation(
                TOY,
                _toy_market(field(liq, "s", "liq")),
                timestamp_ms(field(liq, "t", "liq"), "liq.t"),
                side,
                price,
                qty,
                price * qty,
            )
        ]

    def rest(self, endpoint: str, msg: object) -> list[MarketEvent] | None:
        return None


def toy_listing(endpoint: Endpoints) -> PollSpec:
    return PollSpec(TOY, TOY, "/markets", f"{endpoint.rest_url}/markets", interval_s=0,
                    deliver=False)  # fmt: skip


def toy_listed(msg: object) -> frozenset[str] | None:
    if not isinstance(msg, list):
        raise ParseError("markets: expected a list")
    return frozenset(m for m in (market_of_symbol(TOY, s) for s in msg) if m)


def toy_plan(symbols: Sequence[str], endpoint: Endpoints, feeds: FeedOptions) -> FeedPlan:
    args = [toy_to_symbol(s) for s in symbols]
    stream = StreamSpec(
        feed=TOY,
        exchange=TOY,
        url=f"{endpoint.ws_url}/ws",
        subscribe=[{"op": "subscribe", "args": args}],
        stale_after_s=parse_duration(feeds.stale_after) / 1000,
        liquidations_complete=TOY_SPEC.liquidations_complete,
    )
    return FeedPlan(streams=[stream])


TOY_SPEC = ExchangeSpec(
    id=TOY,
    name="Toy Exchange",
    short="toy",
    ws_url="wss://toy.invalid",
    rest_url="https://toy.invalid",
    liquidations="complete",
    parser=ToyParser,
    plan=toy_plan,
    rest_limit=RateLimit(weight=100, per_s=1.0),
    listing=toy_listing,
    listed_markets=toy_listed,
    to_symbol=toy_to_symbol,
    from_symbol=toy_from_symbol,
    known_multiples=("1000TOY",),
    margin=MarginRule(form="divided", tier1_mmr=0.01),
    ccxt_id="toy",
    ccxt_config=lambda rest: {"urls": {"api": {"public": rest}}},
    ccxt_market=lambda market: None,
    tiers="none: tier-1 defaults only",
)


@pytest.fixture
def toy() -> Iterator[ExchangeSpec]:
    """The toy exchange, registered for one test (the registry is restored afterwards)."""
    before = dict(exchanges._table())
    exchanges.register(TOY_SPEC)
    try:
        yield TOY_SPEC
    finally:
        exchanges._table().clear()
        exchanges._table().update(before)


# -- every built-in spec is complete ---------------------------------------------------------
def test_builtin_exchanges_in_order() -> None:
    assert exchanges.ids() == ("binance", "bybit", "okx", "hyperliquid")
    assert Feeds().exchanges == list(exchanges.ids())
    assert set(Settings().exchanges) == set(exchanges.ids())
    assert exchanges.throttled() == {"binance", "okx"}  # docs/feeds.md: a lower bound there
    assert set(exchanges.make_parsers()) == set(exchanges.ids())


@pytest.mark.parametrize("spec", exchanges.specs(), ids=exchanges.ids())
def test_every_spec_is_complete(spec: ExchangeSpec) -> None:
    module = importlib.import_module(f"liqtui.exchanges.{spec.id}")
    assert module.SPEC is spec and exchanges.get(spec.id) is spec
    assert spec.name and spec.short and len(spec.short) <= 8
    assert spec.ws_url.startswith("wss://") and spec.rest_url.startswith("https://")
    assert spec.liquidations in ("complete", "throttled", "none")
    assert spec.rest_limit.per_second > 0
    parser = spec.parser()
    assert callable(parser) and callable(parser.rest)
    assert spec.parser() is not parser  # fresh state for every session
    endpoint = Endpoint(spec.ws_url, spec.rest_url)
    plan = spec.plan(["BTC", "PEPE"], endpoint, Feeds())
    assert plan.streams or plan.polls
    for stream in plan.streams:
        assert stream.exchange == stream.feed == spec.id
        assert stream.liquidations_complete is spec.liquidations_complete
    for poll in (*plan.polls, *plan.startup, spec.listing(endpoint)):
        assert poll.exchange == spec.id and poll.url.startswith(spec.rest_url.rstrip("/"))
    symbol = spec.to_symbol("BTC")
    assert spec.from_symbol(symbol) == "BTC" and market_of_symbol(spec.id, symbol) == "BTC"
    assert all(split_multiple(key)[1] > 1 for key in spec.known_multiples)
    assert spec.margin.form in ("divided", "linear") and 0 < spec.margin.tier1_mmr < 0.1
    assert 0 <= spec.margin.fee_in_maintenance < 0.01
    assert spec.ccxt_id and isinstance(spec.ccxt_config(spec.rest_url), dict)
    assert spec.tiers


def test_unknown_exchange_is_a_key_error_naming_the_known_ones() -> None:
    with pytest.raises(KeyError, match="binance, bybit, okx, hyperliquid"):
        exchanges.get("kraken")
    assert exchanges.find("kraken") is None


# -- a fifth exchange is one module ----------------------------------------------------------
def test_a_fifth_exchange_reaches_config(toy: ExchangeSpec, tmp_path: Path) -> None:
    assert exchanges.ids()[-1] == TOY
    assert Settings().exchanges[TOY] == Endpoint("wss://toy.invalid", "https://toy.invalid")
    assert TOY in Feeds().exchanges
    path = tmp_path / "toy.toml"
    path.write_text(
        '[feeds]\nexchanges = ["toy", "bybit"]\n'
        '[exchanges.toy]\nws_url = "ws://127.0.0.1:1"\nrest_url = "http://127.0.0.1:1"\n'
    )
    settings = load_settings(path)
    assert settings.feeds.exchanges == ["toy", "bybit"]
    assert settings.exchanges[TOY] == Endpoint("ws://127.0.0.1:1", "http://127.0.0.1:1")
    path.write_text('[feeds]\nexchanges = ["kraken"]\n')
    with pytest.raises(ConfigError, match=r"unknown exchange 'kraken' \(.*, toy\)"):
        load_settings(path)


def test_a_fifth_exchange_reaches_parsers_markets_and_margins(toy: ExchangeSpec) -> None:
    parser = exchanges.make_parsers()[TOY]
    msg = {"liq": {"s": "ETH-PERP", "side": "short", "px": "3000", "qty": "2", "t": T0}}
    (event,) = parser(msg) or []
    assert event == Liquidation(TOY, "ETH", T0, "short", 3000.0, 2.0, 6000.0)
    with pytest.raises(NotTracked):
        parser({"liq": {**msg["liq"], "s": "ETH-SPOT"}})
    assert exchange_symbol(TOY, "BTC") == "BTC-PERP"
    assert exchange_symbol(TOY, "TOY") == "1000TOY-PERP"  # a known multiple
    assert market_of_symbol(TOY, "1000TOY-PERP") == "TOY"
    assert liquidation_price(TOY, "long", 100.0, 10) == pytest.approx(90.0 / 0.99)
    assert exchanges.throttled() == {"binance", "okx"}


async def test_a_fifth_exchange_runs_live_against_a_loopback_server(toy: ExchangeSpec) -> None:
    now = int(time.time() * 1000) - 1000

    async def stream(ws: web.WebSocketResponse, request: web.Request, loop: Loopback) -> None:
        first = await ws.receive_str()
        loop.received.append(first)
        await ws.send_str(json.dumps({"op": "subscribed"}))
        for i in range(3):
            liq = {"s": "BTC-PERP", "side": "long", "px": str(90_000 + i), "qty": "1", "t": now + i}
            await ws.send_str(json.dumps({"liq": liq}))
        await read_frames(ws, loop)

    async with Loopback() as loop:
        loop.ws("/ws", stream)
        loop.rest("/markets", ["BTC-PERP", "ETH-PERP", "BTC-SPOT"])
        settings = loopback_settings({TOY: Endpoint(loop.ws_base, loop.http)})
        engine = Engine()
        task = asyncio.create_task(LiveSource(settings, ["BTC", "SOL"]).run(engine))
        try:
            await wait_until(lambda: engine.snapshot("BTC").realized_count == 3)
            health = engine.feeds[TOY]
            assert health.state == "connected" and health.liquidations_complete is True
            assert health.unlisted == ("SOL",)  # the listing said so: not subscribed
            assert json.loads(loop.received[0]) == {"op": "subscribe", "args": ["BTC-PERP"]}
            assert engine.snapshot("BTC").realized_long_usd == pytest.approx(270_003.0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
