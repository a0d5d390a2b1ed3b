"""Leverage per level: the snapshot's E per tier (its tiers add up to the levels), the tier
filters, the ladder rows' tiers and the tier line under the ladder; and the realized prints the
rings of H keep per row and cell (the heat map's marks)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest

from liqtui.events import Liquidation, MarkPrice, OpenInterest, TradeFlow
from liqtui.model.density import ModelParams, preset_weights
from liqtui.model.engine import Engine
from liqtui.model.grid import PriceGrid
from liqtui.model.history import HistoryRing
from liqtui.output.ladder import LadderView
from liqtui.presets import LEVERAGE_TIERS, TIER_FILTERS, filter_tiers
from liqtui.ui.filters import tier_cycle
from liqtui.ui.history import Column, Marks
from liqtui.ui.widgets.ladder import tier_bar, tier_level, tier_parts

T0 = 1_767_225_600_000  # aligned to the minute
MIN = 60_000


def _engine(minutes: int = 30) -> Engine:
    """Two exchanges, a wandering price and rising open interest: E in every tier."""
    engine = Engine(params=ModelParams(half_life_ms=10**15), preset="balanced")
    rng = np.random.default_rng(3)
    price, oi = 100_000.0, {"binance": 1_000.0, "bybit": 800.0}
    for m in range(minutes + 1):
        t = T0 + m * MIN
        price *= 1 + rng.normal(0, 0.002)
        for ex in oi:
            oi[ex] += float(rng.uniform(2, 12))
            buy, sell = (float(x) for x in rng.uniform(20, 80, 2))
            engine.apply(MarkPrice(ex, "BTC", t, price))
            engine.apply(OpenInterest(ex, "BTC", t, oi[ex]))
            engine.apply(TradeFlow(ex, "BTC", t, MIN, buy, sell, price, price * 1.001, price))
        engine.advance(t)
    return engine


@pytest.fixture(scope="module")
def engine() -> Engine:
    return _engine()


@pytest.mark.parametrize("tier_filter", TIER_FILTERS)
@pytest.mark.parametrize("exchange", [None, "bybit"])
def test_tiers_add_up_to_the_levels(engine: Engine, tier_filter: str, exchange: str | None) -> None:
    """Per bin, per ladder row and over the grid, the tiers sum to the total; a tier the
    preset or the filter does not weigh holds nothing; the arrays are read-only."""
    snap = engine.snapshot("BTC", tier_filter=tier_filter, exchange=exchange)
    lt, st = snap.estimated_long_tiers, snap.estimated_short_tiers
    assert lt is not None and st is not None and snap.tiers == LEVERAGE_TIERS
    assert lt.shape == (len(LEVERAGE_TIERS), snap.estimated_long.size)
    np.testing.assert_allclose(lt.sum(axis=0), snap.estimated_long, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(st.sum(axis=0), snap.estimated_short, rtol=1e-12, atol=1e-6)
    weights = preset_weights("balanced", tier_filter)
    assert snap.tier_weights == tuple(weights)
    assert not lt[weights == 0].any() and not st[weights == 0].any()
    kept = set(filter_tiers(tier_filter))
    assert {t for t, w in zip(LEVERAGE_TIERS, weights, strict=True) if w > 0} <= kept
    assert not lt.flags.writeable and not st.flags.writeable
    rows = LadderView(span_pct=0.3).rows(snap, 60)
    if weights.any():  # "2x" alone is empty under "balanced"
        assert any(r.long_usd > 0 for r in rows) and any(r.short_usd > 0 for r in rows)
    for r in rows:
        assert len(r.long_tiers) == len(LEVERAGE_TIERS)
        assert sum(r.long_tiers) == pytest.approx(r.long_usd, rel=1e-9, abs=1e-6)
        assert sum(r.short_tiers) == pytest.approx(r.short_usd, rel=1e-9, abs=1e-6)


def test_per_tier_levels_match_the_stored_tiers(engine: Engine) -> None:
    """Tier t's E is the model's stored E of that tier, times its weight and the scale."""
    model = engine.markets["BTC"]
    snap = engine.snapshot("BTC")
    assert model.stored is not None
    e = model.stored * model.scale[:, :, None, None]  # [slot, side, tier, bin]
    w = preset_weights("balanced")
    np.testing.assert_allclose(snap.estimated_long_tiers, e[:, 0].sum(axis=0) * w[:, None])
    np.testing.assert_allclose(snap.estimated_short_tiers, e[:, 1].sum(axis=0) * w[:, None])
    # "25x" alone is exactly the 25x row of the unfiltered map
    only = engine.snapshot("BTC", tier_filter="25x")
    i = LEVERAGE_TIERS.index(25)
    np.testing.assert_allclose(only.estimated_long, snap.estimated_long_tiers[i])  # type: ignore[index]


def test_tier_filters() -> None:
    assert filter_tiers("all") == LEVERAGE_TIERS
    assert filter_tiers("25x+") == (25, 50, 100)
    assert filter_tiers("10x") == (10,)
    with pytest.raises(ValueError):
        filter_tiers("3x")
    with pytest.raises(ValueError):
        preset_weights("high", "30x+")
    # the key cycle skips what changes nothing under the preset
    assert tier_cycle(preset_weights("high")) == (
        "all", "25x+", "50x+", "10x", "25x", "50x", "100x",
    )  # fmt: skip
    assert tier_cycle(preset_weights("observed-low")) == (
        "all", "5x+", "10x+", "25x+", "50x+", "2x", "5x", "10x", "25x",
    )  # fmt: skip
    assert tier_cycle([1.0] * len(LEVERAGE_TIERS)) == TIER_FILTERS  # every one differs


def test_tier_line(engine: Engine) -> None:
    """The breakdown of a level: highest leverage first, shares of the level's side, and a
    stacked bar of exactly its width whose neighbouring tiers differ in glyph."""
    snap = engine.snapshot("BTC")
    rows = LadderView(span_pct=0.1).rows(snap, 30)
    row = max(rows, key=lambda r: r.long_usd)
    parts = tier_parts(row, snap.tiers, cursor=True)
    head = "".join(t for t, _ in parts[0].segs)
    assert head.startswith("tiers at ▼")
    text = "".join(t for t, _ in parts[1].segs)
    shown = [int(w[:-1]) for w in text.split() if w.endswith("x")]
    assert shown == sorted(shown, reverse=True) and shown
    weighted = [t for t, v in zip(LEVERAGE_TIERS, row.long_tiers, strict=True) if v > 0]
    assert sorted(shown) == weighted
    pcts = [int(w[:-1]) for w in text.split() if w.endswith("%")]
    assert abs(sum(pcts) - 100) <= len(pcts)
    bar = parts[2].segs
    assert sum(len(t) for t, _ in bar) == 20
    glyphs = [t[0] for t, _ in bar]
    assert all(a != b for a, b in itertools.pairwise(glyphs))
    assert all(role.startswith("long") for _, role in bar)
    assert tier_level(100) == 8 and tier_level(2) == 3
    # largest remainder: 3 cells over thirds, never more cells than asked
    assert [len(t) for t, _ in tier_bar([(50, 0.34), (25, 0.33), (10, 0.33)], 3, "short")] == [
        1,
        1,
        1,
    ]
    empty = dataclasses.replace(row, long_usd=0.0, short_usd=0.0, long_tiers=(), short_tiers=())
    no_e = tier_parts(empty, snap.tiers, cursor=False)
    assert "".join(t for t, _ in no_e[0].segs).startswith("tiers at largest")
    assert "no E" in "".join(t for t, _ in no_e[1].segs)


# -- realized prints in the rings of H (the heat map's marks) -----------------------------------


def _ring(rows: int = 4, row_ms: int = 15 * MIN) -> HistoryRing:
    grid = PriceGrid.around(100_000.0, bin_pct=0.0005, span_pct=0.35)
    return HistoryRing(grid, 100_000.0, rows=rows, row_ms=row_ms, n_tiers=6, cell_pct=0.0025)


def test_ring_keeps_prints_per_row_and_cell() -> None:
    ring = _ring()
    e = np.zeros((2, 6, ring.grid.n_bins))
    ring.due(T0)
    t = np.array([T0 + MIN, T0 + 2 * MIN, T0 + 3 * MIN])
    ring.add_prints(t, np.array([0, 1, 0]), np.array([99_000.0, 101_000.0, 99_010.0]),
                    np.array([1_000.0, 2_000.0, 500.0]))  # fmt: skip
    ring.capture(T0 + 15 * MIN, e, 100_000.0)
    # a late print of the first row, a print of the second, one off the grid
    ring.add_prints(np.array([T0 + 5 * MIN, T0 + 20 * MIN, T0 + 21 * MIN]), np.array([1, 0, 0]),
                    np.array([101_000.0, 98_000.0, 1.0]), np.array([50.0, 70.0, 9e9]))  # fmt: skip
    ring.capture(T0 + 30 * MIN, e, 100_000.0)
    view = ring.view(np.ones(6))
    assert view.realized_long is not None and view.realized_short is not None
    cells = view.cells
    c99 = int(99_000.0 // cells.width) - cells.origin_bin
    c101 = int(101_000.0 // cells.width) - cells.origin_bin
    c98 = int(98_000.0 // cells.width) - cells.origin_bin
    assert view.realized_long[0, c99] == pytest.approx(1_500.0)  # both in one 0.25% cell
    assert view.realized_short[0, c101] == pytest.approx(2_050.0)  # the late one too
    assert view.realized_long[1, c98] == pytest.approx(70.0)
    assert view.realized_long.sum() + view.realized_short.sum() == pytest.approx(3_620.0)
    # a lookback merging both rows into one column sums their prints (a flow, not a state)
    merged = ring.lookback(np.ones(6), T0, T0 + 30 * MIN, max_columns=1)
    assert merged.realized_long is not None and merged.realized_short is not None
    assert merged.realized_long.sum() == pytest.approx(1_570.0)
    assert merged.realized_short.sum() == pytest.approx(2_050.0)
    # and marks at the cells' centres, in the right rows of a screen
    marks = Marks.of_cells(cells.origin, cells.width, merged.realized_long[-1],
                           merged.realized_short[-1])  # fmt: skip
    assert marks is not None
    col = Column(T0, None, 0.0, 0, 1.0, np.zeros(0, np.float32), np.zeros(0, np.float32),
                 marks=marks)  # fmt: skip
    lows = np.array([100_000.0, 99_000.0, 98_000.0])
    sums = col.realized_row_sums(lows, lows + 1_000.0)
    assert sums[0].tolist() == pytest.approx([0.0, 1_500.0, 70.0])
    assert sums[1].tolist() == pytest.approx([0.0, 0.0, 0.0])  # 101k: above every row


def test_model_rings_get_the_prints() -> None:
    """Prints reach every ring of H through the model's steps; the engine hands out the
    window's prints since a time."""
    engine = _engine(minutes=2)
    t = T0 + 2 * MIN + 1_000
    engine.apply(Liquidation("binance", "BTC", t, "long", 99_500.0, 2.0, 199_000.0))
    engine.apply(Liquidation("bybit", "BTC", t + 1, "short", 100_400.0, 1.0, 100_400.0))
    for m in range(3, 40):
        engine.apply(MarkPrice("binance", "BTC", T0 + m * MIN, 100_000.0))
        engine.advance(T0 + m * MIN)
    model = engine.markets["BTC"]
    total = 99_500.0 * 2 + 100_400.0
    for ring in model.rings:
        assert float(ring.realized.sum() + ring._open.sum()) == pytest.approx(total)
    prints = engine.prints("BTC", t - 1)
    assert len(prints) == 2 and prints.side.tolist() == [0, 1]
    assert prints.usd.sum() == pytest.approx(total)
    assert len(engine.prints("BTC", t + 1)) == 0
    assert not prints.price.flags.writeable
