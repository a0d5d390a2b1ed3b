"""Finite but absurd values (issue 11 item 10): a print with z = ap = 1e200, a price of 1e25
with no mark price. The feeds skip and count them like any bad message; the engine never lets
one overflow a sum or move the price grid, whatever reaches it."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from support.recordings import T0, envelope, force_order, line, write_recording

from liqtui.cli import main
from liqtui.events import (
    BookDepth,
    Liquidation,
    MarkPrice,
    OpenInterest,
    TradeFlow,
    implausible,
)
from liqtui.model.engine import Engine

ABSURD_PRINTS = {
    "z = ap = 1e200": force_order(qty="1e200", avg_price="1e200", order_price="1e200"),
    "ap = 1e25, no mark": force_order(avg_price="1e25", order_price="1e25"),
    "notional 2e11 USD": force_order(qty="2000000", avg_price="100000", order_price="100000"),
}


@pytest.mark.parametrize("name", list(ABSURD_PRINTS))
def test_absurd_print_is_skipped_by_snapshot_replay(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = force_order(qty="0.5", avg_price="96400.5", t=T0 + 1_000)
    path = write_recording(
        tmp_path / "absurd.jsonl",
        [line(envelope(ABSURD_PRINTS[name]), T0 + 5), line(envelope(good), T0 + 1_005)],
    )
    status = main(["snapshot", "--replay", str(path), "--symbol", "BTC", "--format", "json"])
    out = json.loads(capsys.readouterr().out)
    assert status == 0
    assert out["price"] == 96400.5  # the grid and price follow the good print only
    assert out["realized"]["count"] == 1
    assert out["realized"]["long_usd"] == pytest.approx(0.5 * 96400.5, abs=0.01)
    (binance,) = [f for f in out["feeds"] if f["name"] == "binance"]
    assert binance["skipped"] == 1 and "implausible" in binance["last_error"]


def liq(price: float, quantity: float, t: int = T0) -> Liquidation:
    return Liquidation("binance", "BTC", t, "long", price, quantity, price * quantity)


def test_engine_refuses_absurd_events_whatever_reaches_it() -> None:
    engine = Engine()
    assert engine.apply(MarkPrice("binance", "BTC", T0, 96_000.0)) is True
    grid = engine.markets["BTC"].grid
    absurd = [
        liq(1e200, 1e200),  # notional inf
        liq(1e25, 1.0),  # a price no market has
        liq(96_000.0, 1e7),  # 9.6e11 USD in one print
        MarkPrice("binance", "BTC", T0, 1e25),
        MarkPrice("binance", "BTC", T0, 96_000.0, funding_rate=1e3),
        OpenInterest("binance", "BTC", T0, 1e200),
        OpenInterest("binance", "BTC", T0, 1e9),  # 9.6e13 USD at this price
        TradeFlow("binance", "BTC", T0, 60_000, 1e200, 0.0, 96_000.0),
        BookDepth("binance", "BTC", T0, 1e25, (0.005,), (1.0,), (1.0,)),
    ]
    for event in absurd:
        assert engine.apply(event) is False, event
    assert engine.events_rejected == len(absurd)
    assert engine.markets["BTC"].grid == grid  # never re-centred onto an absurd range
    engine.apply(liq(95_000.0, 2.0, T0 + 1))
    engine.advance(T0 + 120_000)
    snap = engine.snapshot("BTC")
    assert snap.price == 96_000.0 and snap.open_interest == {}
    assert snap.realized_count == 1 and snap.realized_long_usd == 190_000.0
    assert np.isfinite(snap.realized_long).all() and np.isfinite(snap.estimated_long).all()


def test_values_inside_the_bounds_never_overflow_or_blow_up_the_grid() -> None:
    """Extremes that pass the bounds: the smallest and largest price on one market, the
    largest print many times over. Sums stay finite, the grid keeps its size, off-grid prints
    do not overflow the bin index."""
    engine = Engine()
    engine.apply(MarkPrice("binance", "X", T0, 1e-9))
    n_bins = engine.markets["X"].grid.n_bins  # type: ignore[union-attr]
    for k in range(1_000):
        big = Liquidation("binance", "X", T0 + k, "short", 1e9, 99.0, 99.0 * 1e9)
        assert engine.apply(big) is True
    assert engine.apply(OpenInterest("binance", "X", T0, 5e21)) is True  # 5e12 USD at 1e-9
    engine.apply(MarkPrice("binance", "X", T0 + 5_000, 1e9))  # re-centres 18 decades away
    engine.advance(T0 + 60_000)
    snap = engine.snapshot("X")
    assert snap.grid is not None and snap.grid.n_bins <= 2 * n_bins
    assert math.isfinite(snap.realized_short_usd) and snap.realized_short_usd == pytest.approx(
        1_000 * 99e9
    )
    assert np.isfinite(snap.realized_short).all() and np.isfinite(snap.estimated_short).all()


def test_bounds_are_the_documented_ones() -> None:
    assert implausible(liq(1e-9, 1.0)) is None and implausible(liq(1e9, 1.0)) is None
    assert implausible(liq(0.99e-9, 1.0)) and implausible(liq(1.01e9, 1.0))
    assert implausible(liq(1e9, 100.0))  # 1e11 USD: not below the print bound
