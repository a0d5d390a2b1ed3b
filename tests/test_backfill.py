"""Backfill from public exchange history (issue 15): each exchange's history parsers on
real-shaped answers, and `liqtui.feeds.backfill.Backfill` against the fake exchanges' history
endpoints (tests/support/fake_history.py): paging and caps, short pages and cursors, gaps, 429
with Retry-After, a partial result, the REST budget, and recorded answers that replay to the
same events."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import aiohttp
import pytest
from support.fake_exchanges import FakeExchanges
from support.loopback import loopback_settings

from liqtui import exchanges as registry
from liqtui.config import Endpoint
from liqtui.events import MarketEvent, MarkPrice, OpenInterest, TradeFlow
from liqtui.exchanges.spec import PartlyBad
from liqtui.feeds.backfill import Backfill, BackfillResult, is_history, tidy
from liqtui.feeds.budget import Clock, RestBudget
from liqtui.feeds.recording import Recorder, read_recording
from liqtui.feeds.replay import apply_line
from liqtui.health import FeedHealth
from liqtui.model.engine import Engine
from liqtui.store.minutes import aggregate, events_from_rows

MIN = 60_000
DAY = 86_400_000
T = 1_765_000_020_000 - 1_765_000_020_000 % MIN  # a minute start


class FastClock(Clock):
    """Budget and retry time running `speed` times faster; `slept` adds up what was waited."""

    def __init__(self, speed: float = 50.0) -> None:
        self.speed = speed
        self.start = time.monotonic()
        self.slept = 0.0

    def now(self) -> float:
        return (time.monotonic() - self.start) * self.speed

    async def sleep(self, seconds: float) -> None:
        self.slept += max(seconds, 0.0)
        await asyncio.sleep(max(seconds, 0.0) / self.speed)


def kinds(events: list[MarketEvent]) -> Counter[str]:
    return Counter(type(e).__name__ for e in events)


# -- parsers on real-shaped answers --------------------------------------------------------------
def test_binance_history_parsers() -> None:
    parser = registry.get("binance").parser()
    assert parser.rest("/fapi/v1/fundingRate?symbol=BTCUSDT", [
        {"symbol": "BTCUSDT", "fundingTime": T - 8 * 3_600_000, "fundingRate": "0.00010000",
         "markPrice": "97000.1"},
        {"symbol": "BTCUSDT", "fundingTime": T + 3_600_000, "fundingRate": "0.00020000",
         "markPrice": "97000.1"},
    ]) == []  # fmt: skip
    oi = parser.rest("/futures/data/openInterestHist?symbol=BTCUSDT&period=5m", [
        {"symbol": "BTCUSDT", "sumOpenInterest": "75375.617", "sumOpenInterestValue": "3.2e9",
         "timestamp": T},
    ])  # fmt: skip
    assert oi == [OpenInterest("binance", "BTC", T, 75375.617)]
    row = [T, "97000.0", "97100.0", "96900.0", "97050.0", "10.0", T + MIN - 1, "970200.0",
           55, "6.0", "582000.0", "0"]  # fmt: skip
    events = parser.rest("/fapi/v1/klines?symbol=BTCUSDT&interval=1m", [row])
    marks = [e for e in events if isinstance(e, MarkPrice)]
    (flow,) = [e for e in events if isinstance(e, TradeFlow)]
    # A rising minute: open → low → high → close, the close at the minute's last second with
    # the rate of the settlement that ends the funding interval.
    assert [m.mark_price for m in marks] == [97000.0, 96900.0, 97100.0, 97050.0]
    assert marks[0].time_ms == T and marks[-1].time_ms == T + 59_000
    assert marks[-1].funding_rate == 0.0002 and marks[0].funding_rate is None
    assert flow.time_ms == T + MIN and flow.interval_ms == MIN and flow.source == "kline"
    assert (flow.taker_buy_base, flow.taker_sell_base) == (6.0, 4.0)
    assert flow.vwap == pytest.approx(97020.0)
    assert (flow.high, flow.low, flow.close) == (97100.0, 96900.0, 97050.0)
    with pytest.raises(PartlyBad) as bad:  # malformed items cost only themselves
        parser.rest("/fapi/v1/klines?symbol=BTCUSDT&interval=1m", [row, [T, "x"], "?"])
    assert len(bad.value.errors) == 2 and len(bad.value.events) == len(events)
    page = registry.get("binance").history.get("klines")
    assert page is not None and page.page([row, [T + MIN]]).times == (T, T + MIN)
    refused = {"code": -1130, "msg": "Data sent for parameter 'startTime' is not valid."}
    assert page.page(refused).error == "error -1130: " + refused["msg"]


def test_bybit_history_parsers_assume_no_taker_split() -> None:
    parser = registry.get("bybit").parser()
    ok = {"retCode": 0, "retMsg": "OK", "retExtInfo": {}, "time": T}
    answer = {**ok, "result": {"symbol": "BTCUSDT", "category": "linear", "nextPageCursor": "c2",
                               "list": [{"openInterest": "54656.194", "timestamp": str(T)},
                                        {"openInterest": "5", "singleOpenInterest": "2.0",
                                         "timestamp": str(T - 300_000)},
                                        {"openInterest": "-1", "timestamp": str(T)}]}}  # fmt: skip
    endpoint = "/v5/market/open-interest?category=linear&symbol=BTCUSDT&intervalTime=5min"
    with pytest.raises(PartlyBad) as bad:
        parser.rest(endpoint, answer)
    # One side, as the ticker: singleOpenInterest, else half of openInterest (both sides).
    assert bad.value.events == [
        OpenInterest("bybit", "BTC", T, 27328.097),
        OpenInterest("bybit", "BTC", T - 300_000, 2.0),
    ]
    series = registry.get("bybit").history.get("open_interest")
    assert series is not None and series.page(answer).cursor == "c2"
    assert "cursor=c2" in series.request("BTCUSDT", T - DAY, T, "c2").endpoint
    rows = [[str(T), "100", "101", "98", "99", "8", "796"]]
    kline = {**ok, "result": {"symbol": "BTCUSDT", "category": "linear", "list": rows}}
    events = parser.rest("/v5/market/kline?category=linear&symbol=BTCUSDT&interval=1", kline)
    (flow,) = [e for e in events if isinstance(e, TradeFlow)]
    assert (flow.taker_buy_base, flow.taker_sell_base) == (4.0, 4.0)  # no split: half and half
    assert flow.vwap == pytest.approx(99.5)
    falling = [e.mark_price for e in events if isinstance(e, MarkPrice)]
    assert falling == [100.0, 101.0, 98.0, 99.0]  # open → high → low → close
    error = {"retCode": 10001, "retMsg": "params error", "result": {}}
    assert series.page(error).error == "history: retCode 10001: params error"


def test_okx_history_parsers_in_base_units() -> None:
    parser = registry.get("okx").parser()
    parser.contract_sizes["BTC-USDT-SWAP"] = 0.01
    oi = parser.rest(
        "/api/v5/rubik/stat/contracts/open-interest-history?instId=BTC-USDT-SWAP&period=5m",
        {"code": "0", "msg": "", "data": [[str(T), "2000000", "20000", "1.9e9"],
                                          [str(T - 300_000), "1000000", "", "1e9"]]},
    )  # fmt: skip
    assert oi == [OpenInterest("okx", "BTC", T, 20000.0),
                  OpenInterest("okx", "BTC", T - 300_000, 10000.0)]  # fmt: skip
    candles = {"code": "0", "msg": "", "data": [
        [str(T + MIN), "100", "100", "100", "100", "0", "0", "0", "0"],  # still open: skipped
        [str(T), "100", "102", "99", "101", "500", "5", "505", "1"],
    ]}  # fmt: skip
    events = parser.rest("/api/v5/market/history-candles?instId=BTC-USDT-SWAP&bar=1m", candles)
    (flow,) = [e for e in events if isinstance(e, TradeFlow)]
    assert flow.time_ms == T + MIN and (flow.taker_buy_base, flow.taker_sell_base) == (2.5, 2.5)
    assert flow.vwap == pytest.approx(101.0)
    refused = {"code": "51001", "msg": "Instrument ID does not exist", "data": []}
    series = registry.get("okx").history.get("klines")
    assert series is not None and series.page(refused).error == "error 51001: " + refused["msg"]
    assert parser.rest("/api/v5/public/funding-rate-history?instId=BTC-USDT-SWAP", {
        "code": "0", "msg": "", "data": [{"instId": "BTC-USDT-SWAP", "instType": "SWAP",
                                          "fundingRate": "0.0001", "realizedRate": "0.00011",
                                          "fundingTime": str(T + DAY)}]}) == []  # fmt: skip
    events = parser.rest("/api/v5/market/history-candles?instId=BTC-USDT-SWAP&bar=1m", candles)
    assert [e for e in events if isinstance(e, MarkPrice)][-1].funding_rate == 0.00011


def test_hyperliquid_has_candles_but_no_open_interest_history() -> None:
    spec = registry.get("hyperliquid")
    assert spec.history.get("open_interest") is None and "no public open-interest" in (
        spec.history.note
    )
    series = spec.history.get("klines")
    assert series is not None
    request = series.request("1000PEPE", T - DAY, T, None)
    assert request.method == "POST" and request.body is not None
    assert request.body["req"] == {"coin": "kPEPE", "interval": "1m", "startTime": T - DAY,
                                   "endTime": T}  # fmt: skip
    candle = {"t": T, "T": T + MIN - 1, "s": "BTC", "i": "1m", "o": "100", "c": "101",
              "h": "102", "l": "99", "v": "3", "n": 7}  # fmt: skip
    events = spec.parser().rest(request.endpoint.replace("kPEPE", "BTC"), [candle])
    assert kinds(events) == {"MarkPrice": 4, "TradeFlow": 1}


# -- the fetcher against the fake exchanges -------------------------------------------------------
async def fetch(
    fake: FakeExchanges, exchange: str, days: float, *, clock: Clock | None = None,
    budgets: dict[str, RestBudget] | None = None, recorder: Recorder | None = None,
    market: str = "BTC", progress: Callable[[float], None] | None = None,
) -> BackfillResult:  # fmt: skip
    settings = loopback_settings(fake.endpoints())
    async with aiohttp.ClientSession() as session:
        backfill = Backfill(settings, session, budgets or {}, recorder=recorder,
                            clock=clock or FastClock())  # fmt: skip
        now = int(time.time() * 1000)
        return await backfill.fetch(exchange, market, now - int(days * DAY), now, progress)


def check_series(result: BackfillResult) -> None:
    times = [e.time_ms for e in result.events]
    assert times == sorted(times)
    for kind in (OpenInterest, TradeFlow):
        stamps = [e.time_ms for e in result.events if isinstance(e, kind)]
        assert len(stamps) == len(set(stamps))  # deduplicated


@pytest.fixture
async def fake() -> FakeExchanges:
    async with FakeExchanges(["BTC"], seed=3, speed=None) as exchanges:
        yield exchanges


async def test_one_day_of_each_exchange(fake: FakeExchanges) -> None:
    for exchange in ("binance", "bybit", "okx", "hyperliquid"):
        shown: list[float] = []
        result = await fetch(fake, exchange, 1, progress=shown.append)
        assert result.complete and result.error is None, exchange
        assert shown == sorted(shown) and shown[-1] == 1.0 and len(shown) >= 2, exchange
        check_series(result)
        counts = kinds(result.events)
        assert 1438 <= counts["TradeFlow"] <= 1440, exchange
        if exchange == "hyperliquid":
            assert counts["OpenInterest"] == 0
        else:
            assert 287 <= counts["OpenInterest"] <= 289, exchange
            assert result.covered_from_ms is not None
            assert abs(result.covered_from_ms - (int(time.time() * 1000) - DAY)) < 6 * MIN
        # Funding rides on the closing marks (Hyperliquid's candles do not fetch funding).
        rated = [e for e in result.events if isinstance(e, MarkPrice) and e.funding_rate]
        assert bool(rated) is (exchange != "hyperliquid")


async def test_caps_are_what_each_exchange_serves(fake: FakeExchanges) -> None:
    settings = loopback_settings(fake.endpoints())
    async with aiohttp.ClientSession() as session:
        backfill = Backfill(settings, session, {})
        assert backfill.available_ms("binance") == 30 * DAY
        assert backfill.available_ms("okx") == 5 * DAY  # the latest 1,440 five-minute points
        assert backfill.available_ms("hyperliquid") is None  # no open-interest history
        assert (backfill.available_ms("bybit") or 0) >= 30 * DAY
    now = int(time.time() * 1000)
    binance = await fetch(fake, "binance", 40)  # beyond the 30 days: capped, not refused
    assert binance.complete and binance.error is None
    assert binance.covered_from_ms is not None
    assert 29.9 * DAY < now - binance.covered_from_ms <= 30 * DAY
    okx = await fetch(fake, "okx", 7)
    assert okx.complete and okx.covered_from_ms is not None
    assert 4.9 * DAY < now - okx.covered_from_ms <= 5 * DAY
    assert kinds(okx.events)["TradeFlow"] >= 7 * 1440 - 2  # candles go back further
    assert not [r for r in fake.requests if "startTime=" in r[2] and "openInterestHist" in r[2]
                and int(r[2].split("startTime=")[1].split("&")[0]) < now - 30 * DAY]  # fmt: skip


async def test_short_pages_and_cursors_give_the_same_events(fake: FakeExchanges) -> None:
    for exchange in ("binance", "bybit", "okx"):
        whole = await fetch(fake, exchange, 0.5)
        fake.history.fault(exchange).page_cap = 37
        short = await fetch(fake, exchange, 0.5)
        fake.history.fault(exchange).page_cap = None
        assert short.complete, exchange
        assert short.requests > whole.requests, exchange
        # The last minute may have closed between the two fetches.
        later = {e for e in short.events if e.time_ms <= whole.events[-1].time_ms}
        assert later == set(whole.events), exchange
    assert any("cursor=" in path for ex, _, path in fake.requests if ex == "bybit")


async def test_gaps_stay_gaps(fake: FakeExchanges) -> None:
    now = int(time.time() * 1000)
    gap = (now - 6 * 3_600_000, now - 5 * 3_600_000)
    for exchange in ("binance", "bybit", "okx"):
        fake.history.fault(exchange).gaps = [gap]
        result = await fetch(fake, exchange, 0.5)
        assert result.complete, exchange
        inside = [e for e in result.events if isinstance(e, (OpenInterest, TradeFlow))
                  and gap[0] + MIN < e.time_ms < gap[1]]  # fmt: skip
        assert not inside, exchange
        assert kinds(result.events)["TradeFlow"] > 600


async def test_rate_limited_requests_are_retried_after_retry_after(fake: FakeExchanges) -> None:
    clean = await fetch(fake, "okx", 0.2)
    fake.history.fault("okx").rate_limited = 2
    fake.history.fault("okx").retry_after = "7"
    clock = FastClock(100)
    result = await fetch(fake, "okx", 0.2, clock=clock)
    assert result.complete and result.error is None
    assert result.requests == clean.requests + 2
    assert clock.slept >= 14  # Retry-After: 7 s, twice
    assert kinds(result.events) == kinds(clean.events)


async def test_a_failing_exchange_gives_a_partial_result(fake: FakeExchanges) -> None:
    fake.history.fault("bybit").failing = 10**6
    clock = FastClock(1000)
    bybit, binance = await asyncio.gather(
        fetch(fake, "bybit", 1, clock=clock), fetch(fake, "binance", 1, clock=clock)
    )
    assert not bybit.complete and bybit.events == []
    assert bybit.error is not None and bybit.error.startswith("bybit: HTTP 503 after 5 tries")
    assert binance.complete and kinds(binance.events)["TradeFlow"] >= 1438  # not blocked
    fake.history.fault("bybit").failing = 0
    unknown = await fetch(fake, "bybit", 0.1, market="NOPE")
    assert not unknown.complete and unknown.error is not None and "10001" in unknown.error
    assert (await fetch(fake, "kraken", 1)).error == "kraken: unknown exchange"
    assert (await fetch(fake, "okx", -1)) == BackfillResult([], 0, True, None, None)  # no range
    closed = {**fake.endpoints()}
    closed["okx"] = Endpoint(closed["okx"].ws_url, "http://127.0.0.1:9")  # nothing listens
    async with aiohttp.ClientSession() as session:
        backfill = Backfill(loopback_settings(closed), session, {}, clock=FastClock(1000))
        now = int(time.time() * 1000)
        down = await backfill.fetch("okx", "BTC", now - DAY, now)
    assert not down.complete and down.events == [] and down.covered_from_ms is None
    assert down.error is not None and "after 5 tries" in down.error


async def test_malformed_items_are_skipped(fake: FakeExchanges) -> None:
    for exchange in ("binance", "bybit", "okx"):
        clean = await fetch(fake, exchange, 0.3)
        fake.history.fault(exchange).malformed = True
        result = await fetch(fake, exchange, 0.3)
        fake.history.fault(exchange).malformed = False
        assert result.complete, exchange
        assert kinds(result.events)["OpenInterest"] == kinds(clean.events)["OpenInterest"]


async def test_the_budget_is_spent_and_respected(fake: FakeExchanges) -> None:
    clock = FastClock(50)
    spec = registry.get("okx")
    budget = RestBudget(spec.rest_limit, 0.5, clock)  # as LiveSource makes it
    start = clock.now()
    result = await fetch(fake, "okx", 1, clock=clock, budgets={"okx": budget})
    elapsed = clock.now() - start
    assert result.complete
    assert budget.spent >= result.requests  # OI and funding history weigh 2
    # Never faster than the budget's rate after its small burst.
    assert elapsed >= (budget.spent - budget.capacity) / budget.rate * 0.95


class Collect:
    """An EventSink that keeps what replay applies."""

    def __init__(self) -> None:
        self.events: list[MarketEvent] = []
        self.feeds: dict[str, FeedHealth] = {}

    def apply(self, event: MarketEvent) -> bool:
        self.events.append(event)
        return True

    def advance(self, now_ms: int) -> None:
        pass

    def feed(self, name: str) -> FeedHealth:
        return self.feeds.setdefault(name, FeedHealth(name))


async def test_recorded_answers_replay_to_the_same_events(
    fake: FakeExchanges, tmp_path: Path
) -> None:
    path = tmp_path / "backfill.jsonl.gz"
    results = {}
    with Recorder(path) as recorder:
        for exchange in ("binance", "bybit", "okx", "hyperliquid"):
            fake.history.fault(exchange).page_cap = 150  # short pages are recorded too
            results[exchange] = await fetch(fake, exchange, 0.5, recorder=recorder)
    lines = list(read_recording(path))
    assert lines and all(line.rest and is_history(line.ex, line.rest) for line in lines)
    assert not is_history("binance", "/fapi/v1/openInterest?symbol=BTCUSDT")
    assert not is_history("hyperliquid", "/info?type=l2Book&coin=BTC")
    assert sum(r.requests for r in results.values()) == len(lines)
    sink = Collect()
    parsers = registry.make_parsers()
    for line in lines:
        apply_line(line, sink, parsers)
    for exchange, result in results.items():
        replayed = [e for e in sink.events if e.exchange == exchange]
        assert set(replayed) == set(result.events), exchange
        assert len(replayed) == len(result.events), exchange  # no page overlapped another
        assert tidy(replayed) == result.events, exchange


async def test_seven_days_of_btc_on_three_exchanges(fake: FakeExchanges) -> None:
    """The cold-start figure: requests of a 7-day BTC backfill on Binance, Bybit and OKX at
    once, each within its own budget (here on a 20× clock; at the real rate OKX's 50 requests
    take about 25 s: docs/exchanges.md "History")."""
    clock = FastClock(20)
    started = time.monotonic()
    results = await asyncio.gather(
        *(fetch(fake, ex, 7, clock=clock) for ex in ("binance", "bybit", "okx"))
    )
    wall = time.monotonic() - started
    for result in results:
        assert result.complete and result.error is None
        assert kinds(result.events)["TradeFlow"] >= 7 * 1440 - 2
    requests = [r.requests for r in results]
    print(f"\n7d BTC backfill: requests binance/bybit/okx = {requests} "
          f"(total {sum(requests)}), wall {wall:.1f} s on a 20x clock")  # fmt: skip
    assert requests[0] <= 15 and requests[1] <= 26 and requests[2] <= 55


async def test_backfilled_minutes_are_the_store_s_minutes_and_build_a_map(
    fake: FakeExchanges,
) -> None:
    """A backfilled minute is what the local store keeps of a live minute: aggregated into minute
    rows and read back it gives the same events (VWAP up to float rounding); applied in time
    order, two days of Binance and Bybit history give the engine an estimated map."""
    events: list[MarketEvent] = []
    for exchange in ("binance", "bybit"):
        result = await fetch(fake, exchange, 2)
        rows, prints = aggregate(result.events)
        back = events_from_rows(rows, prints)

        def rounded(evs: list[MarketEvent]) -> Counter[MarketEvent]:
            return Counter(
                replace(e, vwap=float(f"{e.vwap:.10g}")) if isinstance(e, TradeFlow) else e
                for e in evs
            )

        assert rounded(back) == rounded(result.events), exchange
        events += result.events
    engine = Engine()
    for event in sorted(events, key=lambda e: e.time_ms):
        engine.advance(event.time_ms)
        engine.apply(event)
    engine.advance(int(time.time() * 1000))
    snapshot = engine.snapshot("BTC")
    assert snapshot.has_estimate
    assert float(snapshot.estimated_long.sum()) > 0 and float(snapshot.estimated_short.sum()) > 0


def test_multiples_come_out_in_market_units() -> None:
    """1000PEPEUSDT history, tidied as `fetch` does: the market PEPE, priced per 1 PEPE."""
    parser = registry.get("binance").parser()
    row = [T, "0.0100", "0.0102", "0.0099", "0.0101", "1000000", T + MIN - 1, "10100", 5,
           "600000", "6060", "0"]  # fmt: skip
    events = parser.rest("/fapi/v1/klines?symbol=1000PEPEUSDT&interval=1m", [row])
    events += parser.rest(
        "/futures/data/openInterestHist?symbol=1000PEPEUSDT&period=5m",
        [{"symbol": "1000PEPEUSDT", "sumOpenInterest": "5000000", "timestamp": T}],
    )
    tidied = tidy(events)
    assert {e.symbol for e in tidied} == {"PEPE"}
    assert next(e for e in tidied if isinstance(e, OpenInterest)).open_interest == 5e9
    (flow,) = [e for e in tidied if isinstance(e, TradeFlow)]
    assert flow.close == pytest.approx(1.01e-5) and flow.taker_buy_base == pytest.approx(6e8)
