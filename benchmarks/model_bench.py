"""Model figures: one interval step, realized ingest, replay throughput, state size (with 24 h
of history H), snapshot and cascade-risk cost.

Run: python benchmarks/model_bench.py            (prints a table; no network, no ../shared)
Peer figure in the same run: a pure-Python per-bin loop doing the same decay+consume step, so
the ratio stays meaningful on a noisy machine.
"""

from __future__ import annotations

import json
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from liqtui.events import BookDepth, Liquidation, MarkPrice, OpenInterest, TradeFlow
from liqtui.feeds.replay import ReplaySource
from liqtui.model.density import ModelParams
from liqtui.model.engine import Engine
from liqtui.model.risk import risk_report

T0 = 1_767_225_600_000
MIN = 60_000


def best_of(fn, repeats: int = 5, number: int = 200) -> float:  # type: ignore[no-untyped-def]
    """Best mean seconds per call over `repeats` batches of `number` calls."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            fn()
        best = min(best, (time.perf_counter() - start) / number)
    return best


def populated_engine(symbols: list[str], exchanges: list[str]) -> Engine:
    engine = Engine(params=ModelParams())
    rng = np.random.default_rng(1)
    for m in range(180):  # three hours of minutes with rising OI
        t = T0 + m * MIN
        for sym in symbols:
            price = 100.0 * (1 + 0.002 * np.sin(m / 9))
            for ex in exchanges:
                engine.apply(MarkPrice(ex, sym, t, price * (1 + rng.normal(0, 1e-4))))
                engine.apply(OpenInterest(ex, sym, t, 1e6 + 500 * m + rng.normal(0, 100)))
                engine.apply(TradeFlow(ex, sym, t, MIN, 60.0, 40.0, price))
        engine.advance(t)
    return engine


def step_cost(engine: Engine) -> float:
    """Seconds for one model step of every market: marks move, OI grows (so levels are created,
    consumed and decayed every step)."""
    clock = [engine.clock_ms]

    def one() -> None:
        clock[0] += MIN
        k = clock[0] // MIN
        for sym, model in engine.markets.items():
            for ex in model.intervals:
                engine.apply(MarkPrice(ex, sym, clock[0], 100.0 + (k % 7) * 0.3))
                engine.apply(OpenInterest(ex, sym, clock[0], 2e6 + 100.0 * k))
        engine.advance(clock[0])

    return best_of(one, repeats=5, number=20)


def python_loop_step(n_bins: int, n_tiers: int) -> float:
    """Peer: the same decay + consume written as per-bin Python loops."""
    est = [[[1.0] * n_bins for _ in range(n_tiers)] for _ in range(2)]

    def one() -> None:
        for side in range(2):
            for tier in range(n_tiers):
                row = est[side][tier]
                for b in range(n_bins):
                    row[b] *= 0.999
                    if side == 0 and b > n_bins // 2 + 5:
                        row[b] = 0.0

    return best_of(one, repeats=3, number=5)


def realized_ingest_rate() -> float:
    engine = Engine()
    events = [
        Liquidation(
            "binance", "BTC", T0 + i, "long" if i % 3 else "short", 1e5 + i % 977, 0.01, 1e3
        )
        for i in range(200_000)
    ]
    start = time.perf_counter()
    for ev in events:
        engine.apply(ev)
    return len(events) / (time.perf_counter() - start)


def replay_rate(tmp: Path) -> tuple[float, float]:
    """Recording lines per second through read → parse → model, and recorded hours per second."""
    path = tmp / "bench.jsonl"
    n = 100_000
    with path.open("w") as fh:
        for i in range(n):
            t = T0 + i * 250  # a print every 250 ms: ~7 recorded hours
            o = {"s": "BTCUSDT", "S": "SELL" if i % 2 else "BUY", "o": "LIMIT", "f": "IOC",
                 "q": "0.010", "p": "99000", "ap": f"{99000 + i % 500}", "X": "FILLED",
                 "l": "0.010", "z": "0.010", "T": t}  # fmt: skip
            fh.write(
                json.dumps(
                    {"t": t + 5, "ex": "binance", "msg": {"e": "forceOrder", "E": t, "o": o}}
                )
            )
            fh.write("\n")
    engine = Engine(params=ModelParams(window_ms=30 * 86_400_000))
    start = time.perf_counter()
    ReplaySource(path, speed=None).run_sync(engine)
    wall = time.perf_counter() - start
    hours = n * 250 / 3_600_000
    return n / wall, hours / wall


def with_depth(engine: Engine) -> None:
    """A book snapshot per market and exchange, for the cascade-risk figures."""
    for sym, model in engine.markets.items():
        for ex in model.intervals:
            price = model.marks[ex][0]
            usd = (2e6, 4e6, 8e6, 9e6)
            distances = (0.005, 0.01, 0.02, 0.05)
            engine.apply(
                BookDepth(ex, sym, engine.clock_ms, price, distances, usd, usd, 0.03, 0.03)
            )


def read_cost(engine: Engine, symbol: str) -> tuple[float, float, float]:
    snap = engine.snapshot(symbol)
    t_snap = best_of(lambda: engine.snapshot(symbol), repeats=3, number=50)
    t_hist = best_of(lambda: engine.snapshot(symbol, history=True), repeats=3, number=50)
    t_risk = best_of(lambda: risk_report(snap), repeats=3, number=20)
    return t_snap, t_hist, t_risk


def measure(*, quick: bool = False) -> dict[str, float]:
    """Every figure of this benchmark as data (seconds, rates, bytes); `quick` skips the replay
    and read costs and measures fewer batches."""
    one = populated_engine(["BTC"], ["binance"])
    model = one.markets["BTC"]
    assert model.grid is not None and model.stored is not None and model.history is not None
    n_bins, n_tiers = model.grid.n_bins, model.stored.shape[2]
    out: dict[str, float] = {"n_bins": n_bins, "n_tiers": n_tiers}
    out["step_1"] = step_cost(one)
    many = populated_engine([f"S{i}" for i in range(50)], ["binance", "bybit", "okx"])
    out["step_150"] = step_cost(many)
    out["python_loop_step"] = python_loop_step(n_bins, n_tiers)
    out["ingest_per_s"] = realized_ingest_rate()
    if not quick:
        with tempfile.TemporaryDirectory() as tmp:
            out["replay_lines_per_s"], out["replay_hours_per_s"] = replay_rate(Path(tmp))
        with_depth(one)
        out["snapshot_s"], out["snapshot_history_s"], out["risk_s"] = read_cost(one, "BTC")
    h = model.history
    out["history_rows"], out["history_cells"] = h.rows, h.cells.n_bins
    out["history_bytes"] = h.nbytes
    out["lookback_bytes"] = sum(r.nbytes for r in model.lookback_history)
    out["state_1_bytes"] = model.nbytes
    out["state_per_symbol_exchange_bytes"] = sum(m.nbytes for m in many.markets.values()) / 150
    return out


def main() -> None:
    print(f"liqtui model benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    print(f"{platform.machine()} {platform.processor() or ''} python {sys.version.split()[0]} "
          f"numpy {np.__version__}")  # fmt: skip
    f = measure()
    n_bins, n_tiers = int(f["n_bins"]), int(f["n_tiers"])
    t_one, t_many, t_loop = f["step_1"], f["step_150"], f["python_loop_step"]
    rows = [
        ("grid bins × tiers (BTC-like, default grid)", f"{n_bins} × {n_tiers}"),
        ("model step, 1 symbol × 1 exchange", f"{t_one * 1e6:.0f} µs (incl. 2 events)"),
        ("model step, 50 symbols × 3 exchanges", f"{t_many * 1e3:.2f} ms = "
         f"{t_many / 150 * 1e6:.0f} µs per symbol-exchange (incl. 300 events)"),
        ("peer: pure-Python per-bin loop, 1 symbol-exchange", f"{t_loop * 1e3:.1f} ms "
         f"({t_loop / t_one:.0f}× the numpy step)"),
        ("history H (24 h)", f"{int(f['history_rows'])} rows × 2 sides × {n_tiers} tiers × "
         f"{int(f['history_cells'])} cells float32 = {f['history_bytes'] / 1e6:.2f} MB per market"),
        ("H lookback rings (7 d of 2 h, 30 d of 8 h rows)",
         f"{f['lookback_bytes'] / 1e6:.2f} MB per market with E"),
        ("state, market with 1 exchange (E, C, H, detector, R)",
         f"{f['state_1_bytes'] / 1e6:.2f} MB"),
        ("state per symbol-exchange, 50 × 3",
         f"{f['state_per_symbol_exchange_bytes'] / 1e6:.2f} MB"),
        ("realized ingest (engine.apply)", f"{f['ingest_per_s'] / 1e3:.0f}k prints/s"),
        ("replay: read + parse + apply", f"{f['replay_lines_per_s'] / 1e3:.0f}k lines/s = "
         f"{f['replay_hours_per_s']:.1f} recorded h/s at 4 prints/s"),
        ("snapshot / with history / risk_report", f"{f['snapshot_s'] * 1e3:.2f} / "
         f"{f['snapshot_history_s'] * 1e3:.2f} / {f['risk_s'] * 1e3:.2f} ms"),
    ]  # fmt: skip
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key:<{width}}  {value}")


if __name__ == "__main__":
    main()
