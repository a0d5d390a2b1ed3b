"""The offline demo market: determinism, event validity, liquidation mechanics, the source."""

from __future__ import annotations

import asyncio
import bisect
import collections
import itertools
import math
import time
from collections.abc import Iterable

import numpy as np
import pytest

from liqtui.demo import (
    _LEVERAGES,
    _LIQ_RATIO,
    _MAX_LEVERAGE,
    DEFAULT_START_MS,
    DEMO_EXCHANGES,
    DEPTH_DISTANCES,
    DEPTH_INTERVAL_MS,
    FLOW_INTERVAL_MS,
    OI_INTERVAL_MS,
    POSITION_CAP,
    DemoSource,
    MarketSimulator,
)
from liqtui.events import (
    BookDepth,
    Liquidation,
    MarketEvent,
    MarkPrice,
    OpenInterest,
    TradeFlow,
)
from liqtui.health import FeedHealth
from liqtui.model.engine import Engine
from liqtui.model.mechanics import liquidation_prices
from liqtui.model.risk import risk_report

SYMBOLS = ("BTC", "ETH", "SOL")
HOUR = 3_600_000
MAX_SLIP = 3e-4  # the simulator's fills are at most 3 bp beyond the liquidation price


class FakeSink:
    """Records what a source delivers (an EventSink)."""

    def __init__(self) -> None:
        self.events: list[MarketEvent] = []
        self.advances: list[int] = []
        self.feeds: dict[str, FeedHealth] = {}
        self.feed_calls: list[str] = []

    def apply(self, event: MarketEvent) -> None:
        self.events.append(event)

    def advance(self, now_ms: int) -> None:
        self.advances.append(now_ms)

    def feed(self, name: str) -> FeedHealth:
        self.feed_calls.append(name)
        return self.feeds.setdefault(name, FeedHealth(name))


def run_steps(
    sim: MarketSimulator, steps: Iterable[int]
) -> list[tuple[int, int, list[MarketEvent]]]:
    """(start, dt, events) of each step."""
    out = []
    for dt in steps:
        t0 = sim.now_ms
        out.append((t0, dt, sim.step(dt)))
    return out


def flatten(steps: list[tuple[int, int, list[MarketEvent]]]) -> list[MarketEvent]:
    return [e for _, _, events in steps for e in events]


@pytest.fixture(scope="module")
def two_hours() -> tuple[MarketSimulator, list[tuple[int, int, list[MarketEvent]]]]:
    """Two simulated hours of three markets: 30 s steps, then a minute of 250 ms live ticks."""
    sim = MarketSimulator(SYMBOLS, seed=7)
    steps = run_steps(sim, [30_000] * 238 + [250] * 240)
    return sim, steps


@pytest.fixture(scope="module")
def two_hours_events(two_hours) -> list[MarketEvent]:
    return flatten(two_hours[1])


@pytest.fixture(scope="module")
def positions_only() -> list[MarketEvent]:
    """The same two hours without the trickle: only the tracked positions' liquidations."""
    return flatten(run_steps(MarketSimulator(SYMBOLS, seed=7, trickle=0.0), [30_000] * 240))


def marks_by_key(events: list[MarketEvent]) -> dict[tuple[str, str], tuple[list[int], list[float]]]:
    """(exchange, symbol) -> (times, marks) in time order."""
    out: dict[tuple[str, str], tuple[list[int], list[float]]] = collections.defaultdict(
        lambda: ([], [])
    )
    for e in events:
        if isinstance(e, MarkPrice):
            times, marks = out[(e.exchange, e.symbol)]
            times.append(e.time_ms)
            marks.append(e.mark_price)
    return out


# --- determinism --------------------------------------------------------------------------------


def test_same_seed_and_steps_give_identical_events() -> None:
    steps = [30_000] * 40 + [250] * 20 + [7_777, 1, 61_000]
    a = flatten(run_steps(MarketSimulator(SYMBOLS, seed=3), steps))
    b = flatten(run_steps(MarketSimulator(SYMBOLS, seed=3), steps))
    assert len(a) > 1000
    assert a == b


def test_different_seed_gives_different_events() -> None:
    a = flatten(run_steps(MarketSimulator(["BTC"], seed=1), [30_000] * 20))
    b = flatten(run_steps(MarketSimulator(["BTC"], seed=2), [30_000] * 20))

    def schedule(events: list[MarketEvent]) -> list[type]:  # all but the (random) prints
        return [type(e) for e in events if not isinstance(e, Liquidation)]

    assert schedule(a) == schedule(b)  # the same schedule of publications
    assert a != b


def test_adding_or_reordering_markets_keeps_each_markets_path() -> None:
    steps = [30_000] * 60
    alone = flatten(run_steps(MarketSimulator(["BTC"], seed=5), steps))
    with_others = flatten(run_steps(MarketSimulator(["SOL", "BTC", "ETH"], seed=5), steps))
    assert alone == [e for e in with_others if e.symbol == "BTC"]


def test_markets_move_on_their_own_noise(two_hours_events) -> None:
    # Markets share bursts and a market factor, but part of each tick's noise is their own.
    marks = marks_by_key(two_hours_events)
    returns = {symbol: np.diff(np.log(marks[("binance", symbol)][1][:3600])) for symbol in SYMBOLS}
    for a, b in (("BTC", "ETH"), ("ETH", "SOL")):
        assert 0.3 < np.corrcoef(returns[a], returns[b])[0, 1] < 0.9


def test_start_ms_only_shifts_timestamps() -> None:
    shift = 123 * 60_000
    a = flatten(run_steps(MarketSimulator(["ETH"], seed=2), [30_000] * 40))
    b = flatten(
        run_steps(
            MarketSimulator(["ETH"], seed=2, start_ms=DEFAULT_START_MS + shift), [30_000] * 40
        )
    )
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert y.time_ms == x.time_ms + shift
        assert type(x) is type(y)


def test_starting_prices() -> None:
    sim = MarketSimulator(["BTC", "ETH", "SOL", "XRP", "DOGE", "BNB", "NEWCOIN"])
    first = {e.symbol: e.mark_price for e in sim.step(1_000) if isinstance(e, MarkPrice)}
    expected = {"BTC": 97_000, "ETH": 3_400, "SOL": 190, "XRP": 2.3, "DOGE": 0.33, "BNB": 690}
    expected["NEWCOIN"] = 10.0
    for symbol, price in expected.items():
        assert first[symbol] == pytest.approx(price, rel=0.01)


# --- event validity -----------------------------------------------------------------------------


def test_events_are_valid_and_in_time_order(two_hours) -> None:
    sim, steps = two_hours
    seen_types: set[type] = set()
    for t0, dt, events in steps:
        times = [e.time_ms for e in events]
        assert times == sorted(times)
        assert all(t0 < t <= t0 + dt for t in times)
        for e in events:
            seen_types.add(type(e))
            assert e.exchange in DEMO_EXCHANGES
            assert e.symbol in SYMBOLS
            if isinstance(e, MarkPrice):
                assert math.isfinite(e.mark_price) and e.mark_price > 0
                assert e.funding_rate is not None and abs(e.funding_rate) < 0.003
            elif isinstance(e, Liquidation):
                assert e.side in ("long", "short")
                assert math.isfinite(e.price) and e.price > 0
                assert math.isfinite(e.quantity) and e.quantity > 0
                assert e.notional_usd == pytest.approx(e.quantity * e.price, rel=1e-12)
            elif isinstance(e, OpenInterest):
                assert math.isfinite(e.open_interest) and e.open_interest > 0
            elif isinstance(e, TradeFlow):
                assert e.interval_ms == FLOW_INTERVAL_MS
                assert e.taker_buy_base > 0 and e.taker_sell_base > 0
                assert e.low is not None and e.high is not None
                assert 0 < e.low <= e.vwap <= e.high
            elif isinstance(e, BookDepth):
                assert e.distances == DEPTH_DISTANCES
                assert math.isfinite(e.mid) and e.mid > 0
                for side in (e.bid_usd, e.ask_usd):
                    assert len(side) == len(DEPTH_DISTANCES)
                    assert all(v > 0 for v in side)
                    assert list(side) == sorted(side)  # cumulative within each distance
                assert 0 < e.bid_reach <= 0.05 and 0 < e.ask_reach <= 0.05
    assert seen_types == {MarkPrice, Liquidation, OpenInterest, TradeFlow, BookDepth}
    assert sim.now_ms == DEFAULT_START_MS + 2 * HOUR


def test_publication_cadence(two_hours) -> None:
    sim, steps = two_hours
    for t0, dt, events in steps:
        for symbol in SYMBOLS:
            for ex in DEMO_EXCHANGES:
                marks = [
                    e.time_ms
                    for e in events
                    if isinstance(e, MarkPrice) and e.symbol == symbol and e.exchange == ex
                ]
                # Every simulated second, or every step when steps are shorter.
                assert len(marks) == max(1, dt // 1000)
                assert marks[-1] == t0 + dt
    events = flatten(steps)
    for kind, every in (
        (OpenInterest, OI_INTERVAL_MS),
        (TradeFlow, FLOW_INTERVAL_MS),
        (BookDepth, DEPTH_INTERVAL_MS),
    ):
        times = collections.defaultdict(list)
        for e in events:
            if isinstance(e, kind):
                times[(e.exchange, e.symbol)].append(e.time_ms)
        assert len(times) == len(SYMBOLS) * len(DEMO_EXCHANGES)
        for series in times.values():
            assert series == list(range(DEFAULT_START_MS + every, sim.now_ms + 1, every))


# --- liquidations -------------------------------------------------------------------------------


def test_liquidations_happen_on_both_sides_mostly_in_bursts(two_hours_events) -> None:
    liqs = [e for e in two_hours_events if isinstance(e, Liquidation)]
    for symbol in SYMBOLS:
        sides = collections.Counter(e.side for e in liqs if e.symbol == symbol)
        assert sides["long"] > 0 and sides["short"] > 0
    # Cascades: a few minutes carry most of the liquidated notional.
    per_minute = collections.Counter()
    for e in liqs:
        per_minute[e.time_ms // 60_000] += e.notional_usd
    ranked = sorted(per_minute.values(), reverse=True)
    top = int(0.05 * 120)  # the busiest 5% of the two hours' minutes
    assert sum(ranked[:top]) > 0.5 * sum(ranked)


def test_every_print_is_at_a_crossed_mark(two_hours_events) -> None:
    """Positions and the trickle alike: at each print, that exchange's mark is on the
    liquidating side of the fill, within the slippage."""
    marks = marks_by_key(two_hours_events)
    liqs = [e for e in two_hours_events if isinstance(e, Liquidation)]
    assert len(liqs) > 1000
    for e in liqs:
        times, prices = marks[(e.exchange, e.symbol)]
        i = bisect.bisect_left(times, e.time_ms)
        assert times[i] == e.time_ms  # a mark is published at every liquidation instant
        if e.side == "long":
            assert prices[i] <= e.price * (1 + MAX_SLIP + 1e-9)
        else:
            assert prices[i] >= e.price * (1 - MAX_SLIP - 1e-9)


def test_positions_are_liquidated_at_a_crossed_level(positions_only) -> None:
    """At each print of a tracked position, that exchange's mark is on the liquidating side of
    the level, and the market had come from the other side (longs die after falls, shorts
    after rises)."""
    marks = marks_by_key(positions_only)
    liqs = [e for e in positions_only if isinstance(e, Liquidation)]
    assert len(liqs) > 100
    for e in liqs:
        times, prices = marks[(e.exchange, e.symbol)]
        i = bisect.bisect_left(times, e.time_ms)
        assert times[i] == e.time_ms  # a mark is published at every liquidation instant
        mark, before = prices[i], prices[:i]
        assert before  # nothing can be liquidated at the very first tick
        if e.side == "long":
            assert mark <= e.price * (1 + MAX_SLIP + 1e-9)
            assert max(before) >= e.price * 1.003  # the least-margined long is ~0.5% away
        else:
            assert mark >= e.price * (1 - MAX_SLIP - 1e-9)
            assert min(before) <= e.price / 1.003


def test_a_print_every_few_seconds_between_the_cascades(two_hours_events) -> None:
    """Real markets print every few seconds; the demo's trickle does too (it went six minutes
    without one before)."""
    for symbol in SYMBOLS:
        times = np.array(
            sorted(
                e.time_ms
                for e in two_hours_events
                if isinstance(e, Liquidation) and e.symbol == symbol
            )
        )
        gaps = np.diff(times) / 1000.0
        assert times[0] - DEFAULT_START_MS < 30_000
        assert np.median(gaps) <= 5.0
        assert np.percentile(gaps, 99) <= 30.0
        assert gaps.max() <= 90.0
    # small: the cascades still carry most of the notional (see the test above), and the
    # typical print is a few thousand dollars
    usd = [e.notional_usd for e in two_hours_events if isinstance(e, Liquidation)]
    assert 500 < np.median(usd) < 10_000


def test_live_ticks_print_every_few_seconds_too() -> None:
    """At the live cadence (250 ms steps) the trickle keeps its rate: five minutes of BTC."""
    sim = MarketSimulator(["BTC"], seed=5)
    sim.step(30 * 60_000)
    events = flatten(run_steps(sim, [250] * (4 * 300)))
    times = np.array([e.time_ms for e in events if isinstance(e, Liquidation)])
    assert times.size > 60  # more than one every 5 s on average
    assert np.diff(times).max() <= 45_000


def test_the_trickle_follows_the_move(two_hours_events) -> None:
    """More longs are liquidated in minutes the price falls, more shorts when it rises."""
    times, prices = marks_by_key(two_hours_events)[("binance", "BTC")]
    close = {t // 60_000: p for t, p in zip(times, prices, strict=True)}
    balance = collections.Counter()
    for e in two_hours_events:
        if isinstance(e, Liquidation) and e.symbol == "BTC":
            balance[e.time_ms // 60_000] += 1 if e.side == "long" else -1
    minutes = [m for m in balance if m - 1 in close and m in close]
    ret = [math.log(close[m] / close[m - 1]) for m in minutes]
    assert np.corrcoef(ret, [balance[m] for m in minutes])[0, 1] < -0.2


def test_hyperliquid_publishes_no_liquidations_and_hourly_funding(two_hours_events) -> None:
    hl = [e for e in two_hours_events if e.exchange == "hyperliquid"]
    kinds = {type(e) for e in hl}
    assert kinds == {MarkPrice, OpenInterest, TradeFlow, BookDepth}  # no public liquidation feed
    funding = {
        ex: np.median(
            [
                e.funding_rate
                for e in two_hours_events
                if isinstance(e, MarkPrice) and e.exchange == ex
            ]
        )
        for ex in DEMO_EXCHANGES
    }
    assert 0 < funding["hyperliquid"] < funding["binance"] / 4  # per hour, the others per 8 h


def test_depth_is_near_the_mark_and_thins_in_a_cascade(two_hours_events) -> None:
    marks = marks_by_key(two_hours_events)
    depth = [e for e in two_hours_events if isinstance(e, BookDepth) and e.symbol == "BTC"]
    for e in depth:
        times, prices = marks[(e.exchange, e.symbol)]
        assert e.mid == prices[bisect.bisect_left(times, e.time_ms)]
    # Binance BTC within 1%: a few hundred million in calm (models.md: ~$244M)
    one_pct = {e.time_ms: e.bid_usd[1] for e in depth if e.exchange == "binance"}
    assert 100e6 < np.median(list(one_pct.values())) < 500e6
    # the busiest liquidation minute: the book is much thinner than half an hour before
    per_minute = collections.Counter()
    for e in two_hours_events:
        if isinstance(e, Liquidation) and e.symbol == "BTC":
            per_minute[e.time_ms // 60_000] += e.notional_usd
    t = max(per_minute, key=per_minute.__getitem__) * 60_000
    during = min(v for k, v in one_pct.items() if t - 60_000 <= k <= t + 60_000)
    before = np.median([v for k, v in one_pct.items() if t - 40 * 60_000 <= k <= t - 30 * 60_000])
    assert during < 0.6 * before


def test_cascade_risk_has_depth_in_the_demo() -> None:
    engine = Engine()
    DemoSource(["BTC"], seed=3, warmup_ms=HOUR, start_ms=DEFAULT_START_MS).run_sync(engine)
    report = risk_report(engine.snapshot("BTC"))
    assert report.r_x.get("long") and report.r_x.get("short")
    assert all(v is not None and v > 0 for v in report.r_x["long"].values())
    assert {d.exchange for d in engine.snapshot("BTC").depth} == set(DEMO_EXCHANGES)


def test_throttled_exchanges_report_one_liquidation_per_second(two_hours_events) -> None:
    per_second = collections.Counter(
        (e.exchange, e.symbol, e.time_ms // 1000)
        for e in two_hours_events
        if isinstance(e, Liquidation)
    )
    for (ex, _, _), count in per_second.items():
        if ex in ("binance", "okx"):
            assert count == 1
    assert any(count > 1 for (ex, _, _), count in per_second.items() if ex == "bybit")


def test_throttling_holds_when_seconds_span_steps() -> None:
    # 700 ms steps: most seconds are split between two steps. The first burst comes in the
    # first 20 minutes.
    sim = MarketSimulator(["SOL"], seed=11)
    events = flatten(run_steps(sim, [700] * (25 * 60_000 // 700)))
    liqs = [e for e in events if isinstance(e, Liquidation)]
    assert any(e.exchange == "bybit" for e in liqs)
    throttled = [(e.exchange, e.time_ms // 1000) for e in liqs if e.exchange != "bybit"]
    assert throttled
    assert len(throttled) == len(set(throttled))


def test_liquidation_levels_come_from_the_mechanics_module() -> None:
    # The simulator scales per-leverage ratios by the entry; exact because, without a
    # maintenance amount, the formulas are linear in the entry price.
    entry = np.full(_LEVERAGES.size, 12_345.6)
    for e, ex in enumerate(DEMO_EXCHANGES):
        for s, side in enumerate(("long", "short")):
            np.testing.assert_allclose(
                entry * _LIQ_RATIO[e, s],
                liquidation_prices(
                    ex, side, entry, np.minimum(_LEVERAGES, _MAX_LEVERAGE.get(ex, np.inf))
                ),
            )


# --- open interest and positions ----------------------------------------------------------------


def test_open_interest_stays_positive_bounded_and_not_monotonic() -> None:
    sim = MarketSimulator(["BTC"], seed=4)
    events = flatten(run_steps(sim, [30_000] * (6 * 120)))
    initial = {"binance": 80_000, "bybit": 50_000, "okx": 25_000, "hyperliquid": 32_000}
    for ex in DEMO_EXCHANGES:
        series = np.array(
            [e.open_interest for e in events if isinstance(e, OpenInterest) and e.exchange == ex]
        )
        assert series.size == 6 * 240
        assert np.all(series > 0.8 * initial[ex])
        assert np.all(series < 1.2 * initial[ex])
        changes = np.diff(series)
        assert (changes > 0).sum() > 100 and (changes < 0).sum() > 100


def test_open_interest_drops_through_a_cascade(two_hours_events) -> None:
    liq_usd = collections.Counter()
    for e in two_hours_events:
        if isinstance(e, Liquidation) and e.symbol == "BTC":
            liq_usd[e.time_ms // 60_000] += e.notional_usd
    minute = max(liq_usd, key=liq_usd.__getitem__) * 60_000
    oi = {
        (e.exchange, e.time_ms): e.open_interest
        for e in two_hours_events
        if isinstance(e, OpenInterest) and e.symbol == "BTC"
    }
    for ex in DEMO_EXCHANGES:
        assert oi[(ex, minute + 2 * 60_000)] < oi[(ex, minute - 2 * 60_000)]


def test_trade_flow_imbalance_follows_the_return(two_hours_events) -> None:
    flows = [
        e
        for e in two_hours_events
        if isinstance(e, TradeFlow) and e.symbol == "BTC" and e.exchange == "binance"
    ]
    times, prices = marks_by_key(two_hours_events)[("binance", "BTC")]
    mark_at = dict(zip(times, prices, strict=True))
    imbalance, returns = [], []
    for prev, cur in itertools.pairwise(flows):
        imbalance.append(
            (cur.taker_buy_base - cur.taker_sell_base) / (cur.taker_buy_base + cur.taker_sell_base)
        )
        returns.append(math.log(mark_at[cur.time_ms] / mark_at[prev.time_ms]))
    assert np.corrcoef(imbalance, returns)[0, 1] > 0.15


def test_live_positions_stay_under_the_cap(two_hours) -> None:
    sim, _ = two_hours
    for symbol in SYMBOLS:
        for ex in DEMO_EXCHANGES:
            assert 0 < sim.position_count(symbol, ex) <= POSITION_CAP
    small = MarketSimulator(["DOGE"], seed=1, position_cap=150)
    for _ in range(60):
        small.step(60_000)
        assert all(small.position_count("DOGE", ex) <= 150 for ex in DEMO_EXCHANGES)
    assert all(small.position_count("DOGE", ex) == 150 for ex in DEMO_EXCHANGES)


def test_invalid_arguments() -> None:
    with pytest.raises(ValueError):
        MarketSimulator([])
    with pytest.raises(ValueError):
        MarketSimulator(["BTC"]).step(-1)
    with pytest.raises(ValueError):
        DemoSource(["BTC"], speed=0)
    assert MarketSimulator(["BTC"]).step(0) == []


# --- the source ---------------------------------------------------------------------------------


async def test_run_warms_up_then_ticks_and_is_cancellable() -> None:
    warmup = 10 * 60_000
    source = DemoSource(
        ["BTC", "ETH"], seed=9, tick_ms=5, speed=200, warmup_ms=warmup, start_ms=DEFAULT_START_MS
    )
    sink = FakeSink()
    task = asyncio.create_task(source.run(sink))
    # Wait (by event-loop turns, not time) until some live ticks have come in.
    for _ in range(10_000):
        if sink.advances and sink.advances[-1] >= DEFAULT_START_MS + warmup + 3 * 1000:
            break
        await asyncio.sleep(0.001)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()

    health = sink.feeds["demo"]
    assert sink.feed_calls[0] == "demo"
    assert health.state == "simulated"
    assert health.note == "simulated market, not real data"
    assert health.liquidations_complete is None
    assert health.messages == len(sink.events)
    assert health.last_event_ms == sink.advances[-1]

    # Warm-up: exactly what a simulator fed the same steps produces.
    warm_steps = warmup // DemoSource.warmup_step_ms
    expected = MarketSimulator(["BTC", "ETH"], seed=9)
    warm_events = flatten(run_steps(expected, [DemoSource.warmup_step_ms] * warm_steps))
    assert sink.events[: len(warm_events)] == warm_events
    assert sink.advances[:warm_steps] == [
        DEFAULT_START_MS + DemoSource.warmup_step_ms * (k + 1) for k in range(warm_steps)
    ]
    # Live: each tick advances the simulated clock by tick_ms * speed.
    live = sink.advances[warm_steps:]
    assert live and all(b - a == 1000 for a, b in itertools.pairwise(live))
    assert live[0] == DEFAULT_START_MS + warmup + 1000
    times = [e.time_ms for e in sink.events]
    assert times == sorted(times)


def test_run_sync_delivers_warmup_and_duration() -> None:
    source = DemoSource(
        ["BTC"], seed=2, tick_ms=250, warmup_ms=30 * 60_000, start_ms=DEFAULT_START_MS
    )
    sink = FakeSink()
    source.run_sync(sink, 10_000)
    end = DEFAULT_START_MS + 30 * 60_000 + 10_000
    assert sink.advances[-1] == end == source.sim.now_ms
    assert sink.advances[-40:] == list(range(end - 39 * 250, end + 1, 250))
    kinds = {type(e) for e in sink.events}
    assert kinds == {MarkPrice, Liquidation, OpenInterest, TradeFlow, BookDepth}
    assert all(e.time_ms <= end for e in sink.events)
    assert sink.feeds["demo"].state == "simulated"
    assert sink.feeds["demo"].messages == len(sink.events)


def test_wall_clock_start_ends_warmup_at_now() -> None:
    before_ms = time.time_ns() // 1_000_000
    source = DemoSource(["BTC"], warmup_ms=5 * 60_000)
    source.run_sync(FakeSink(), 0)
    after_ms = time.time_ns() // 1_000_000
    assert source.sim.start_ms % 1000 == 0  # ticks on whole seconds
    assert before_ms - 1000 < source.sim.now_ms <= after_ms
