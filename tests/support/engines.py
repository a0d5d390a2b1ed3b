"""Deterministic engines for tests and benchmarks: a seeded engine with estimated (E) and
realized (R) layers, and an engine with a UI history filled by the demo simulator. Times are
fixed (2026-01-01 UTC), never the wall clock."""

from __future__ import annotations

import math

from liqtui.events import Liquidation, MarkPrice, OpenInterest, TradeFlow
from liqtui.model.engine import Engine

SEED_T0 = 1_767_225_600_000  # 2026-01-01 00:00:00 UTC
SEED_MINUTES = 8
SEED_PRICES = {"BTC": 97_000.0, "ETH": 3_400.0}


def seed_engine(engine: Engine) -> Engine:
    """Marks, taker flow and open interest rising every minute for 8 minutes (so E builds up),
    a few large liquidations on both sides, and a connected Binance feed.
    The engine's clock ends at SEED_T0 + 8 min; the last event is 1 s before that."""
    for symbol in SEED_PRICES:
        engine.apply(OpenInterest("binance", symbol, SEED_T0, 1_000.0))  # the baseline reading
    t = SEED_T0
    for m in range(1, SEED_MINUTES + 1):
        t = SEED_T0 + m * 60_000
        for symbol, p0 in SEED_PRICES.items():
            p = p0 * (1 + 0.002 * math.sin(m))
            engine.apply(MarkPrice("binance", symbol, t - 30_000, p, 0.0001))
            engine.apply(
                TradeFlow("binance", symbol, t, 60_000, 12.0 + m, 9.0, p, p * 1.001, p * 0.999)
            )
            engine.apply(OpenInterest("binance", symbol, t - 1_000, 1_000.0 + 40.0 * m))
            if m % 3 == 0:
                side = "long" if m % 2 else "short"
                px = p * (0.995 if side == "long" else 1.005)
                qty = 150_000.0 / px
                engine.apply(Liquidation("binance", symbol, t - 5_000, side, px, qty, qty * px))
        engine.advance(t)
    health = engine.feed("binance")
    health.state = "connected"
    health.last_event_ms = t - 1_000
    health.messages = 10 * SEED_MINUTES
    return engine


DEMO_WARMUP_MS = 3 * 3600 * 1000


def demo_engine_and_history(seed: int = 3, symbols: tuple[str, ...] = ("BTC", "ETH")):  # type: ignore[no-untyped-def]
    """An engine and a UI history filled by 3 h of the demo simulator (four exchanges with their
    order books, at least one cascade), ending at SEED_T0 + 3 h. Deterministic: no wall clock."""
    from liqtui.demo import DemoSource
    from liqtui.ui.history import History, HistorySink

    engine = Engine()
    history = History(period_ms=engine.params.step_ms)
    sink = HistorySink(engine, history, lambda: list(symbols))
    # The simulator's own order books give R_X, W_crit and the scenarios.
    DemoSource(list(symbols), seed=seed, warmup_ms=DEMO_WARMUP_MS, start_ms=SEED_T0).run_sync(sink)
    return engine, history
