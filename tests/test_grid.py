"""Price grid: binning, nice widths, re-centring and re-binning without losing mass."""

from __future__ import annotations

import numpy as np
import pytest

from liqtui.model.grid import PriceGrid, nice_width, remap


@pytest.mark.parametrize(
    ("raw", "nice"),
    [(48.5, 50.0), (1.55, 2.0), (0.0012, 0.001), (2.3, 2.5), (7.4, 10.0), (6.0, 5.0)],
)
def test_nice_width(raw: float, nice: float) -> None:
    assert nice_width(raw) == pytest.approx(nice)


def test_grid_around_price_covers_span_with_aligned_edges() -> None:
    g = PriceGrid.around(97_000, bin_pct=0.0005, span_pct=0.35)
    assert g.width == 50.0
    assert g.origin % g.width == 0
    assert g.origin <= 97_000 * 0.65 + 1e-6 and g.top >= 97_000 * 1.35 - 1e-6
    assert g.n_bins == 2 * 679
    # A price on an edge belongs to the bin above it; prices bin by floor.
    i = g.index_of(97_000)
    assert g.lows()[i] == 97_000
    assert g.index(np.array([97_049.99, 97_050.0])).tolist() == [i, i + 1]


def test_clipped_index_keeps_far_prices_in_edge_bins() -> None:
    g = PriceGrid.around(100.0)
    idx = g.clipped_index(np.array([1.0, 1e9]))
    assert idx.tolist() == [0, g.n_bins - 1]


def test_recentre_same_width_moves_mass_bin_for_bin() -> None:
    old = PriceGrid.around(100_000)
    new = PriceGrid.around(110_000, keep_width=old.width)
    assert new.width == old.width
    rng = np.random.default_rng(1)
    values = rng.random((3, 2, old.n_bins))
    moved = remap(values, old, new)
    assert moved.shape == (3, 2, new.n_bins)
    assert moved.sum() == pytest.approx(values.sum(), rel=1e-12)
    # A bin that exists on both grids keeps its exact value.
    price = 100_000.0 + 25.0
    assert moved[1, 1, new.index_of(price)] == values[1, 1, old.index_of(price)]


def test_rebin_to_another_width_conserves_mass() -> None:
    old = PriceGrid.around(100_000)
    new = PriceGrid.around(300_000)  # price tripled: wider bins, grid far away
    values = np.zeros((2, old.n_bins))
    values[0, 10] = 5.0
    values[1, old.n_bins // 2] = 7.0
    moved = remap(values, old, new)
    assert moved.sum() == pytest.approx(12.0)
    assert moved[0, 0] == pytest.approx(5.0)  # beyond the new grid: kept in the edge bin


def test_needs_recentre_only_outside_the_middle() -> None:
    g = PriceGrid.around(100_000, span_pct=0.35)
    assert not g.needs_recentre(110_000)
    assert g.needs_recentre(125_000)


def test_bad_price_raises() -> None:
    with pytest.raises(ValueError):
        PriceGrid.around(0.0)
    with pytest.raises(ValueError):
        PriceGrid.around(float("nan"))


def test_history_cells_are_whole_bins_aligned_and_cover_the_grid() -> None:
    from liqtui.model.history import bins_per_cell, cell_grid

    g = PriceGrid.around(97_000)  # width 50
    k = bins_per_cell(g, 0.0025, 97_000)
    cells = cell_grid(g, k)
    assert k == 5 and cells.width == 250 and cells.origin % cells.width == 0
    assert cells.origin <= g.origin and cells.top >= g.top
    # Every model bin falls in exactly one cell: summing bins into cells keeps the mass.
    values = np.random.default_rng(3).random(g.n_bins)
    target = cells.index(g.centres())
    assert target.min() >= 0 and target.max() < cells.n_bins
    assert np.bincount(target, values, minlength=cells.n_bins).sum() == pytest.approx(values.sum())


def test_recentre_keeps_consumed_and_estimated_mass_together() -> None:
    old = PriceGrid.around(100_000)
    new = PriceGrid.around(120_000, keep_width=old.width)
    rng = np.random.default_rng(7)
    e = rng.random((2, 2, 6, old.n_bins))
    c = rng.random((2, 2, 6, old.n_bins))
    assert remap(e, old, new).sum() == pytest.approx(e.sum(), rel=1e-12)
    assert remap(c, old, new).sum() == pytest.approx(c.sum(), rel=1e-12)
