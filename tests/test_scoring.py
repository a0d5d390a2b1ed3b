"""Per-window scoring (liqtui.model.scoring): ranks, plain and partial Spearman, the OI ×
excursion baseline and the rank-space explained variance, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqtui.model.scoring import (
    baseline_c,
    partial_interval,
    partial_spearman,
    rank_r2,
    rankdata,
    score_map,
    score_windows,
    side_excursion,
    spearman,
)


def test_ranks_average_ties() -> None:
    assert rankdata([10.0, 20.0, 20.0, 30.0]).tolist() == [1.0, 2.5, 2.5, 4.0]
    assert rankdata([3.0, 3.0, 3.0]).tolist() == [2.0, 2.0, 2.0]
    assert rankdata([]).size == 0
    rng = np.random.default_rng(1)
    x = rng.integers(0, 20, 500).astype(float)  # many ties
    slow = np.array([np.sum(x < v) + (np.sum(x == v) + 1) / 2 for v in x])
    assert rankdata(x) == pytest.approx(slow)


def test_spearman_by_hand() -> None:
    # d = (0, 1, −1, 0): 1 − 6·2/(4·15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) is None
    assert spearman([1, 1, 1], [1, 2, 3]) is None
    assert spearman([], []) is None and partial_spearman([], [], []) is None
    # A NaN pair is dropped, not ranked.
    assert spearman([1, 2, np.nan, 3, 4], [1, 3, 9, 2, 4]) == pytest.approx(0.8)


def test_partial_spearman_matches_the_textbook_formula() -> None:
    rng = np.random.default_rng(7)
    z = rng.random(300)
    x = z + 0.3 * rng.random(300)
    y = z**2 + 0.3 * rng.random(300)
    rxy, rxz, ryz = spearman(x, y), spearman(x, z), spearman(y, z)
    assert rxy is not None and rxz is not None and ryz is not None
    expected = (rxy - rxz * ryz) / math.sqrt((1 - rxz**2) * (1 - ryz**2))
    got = partial_spearman(x, y, z)
    assert got == pytest.approx(expected, abs=1e-12)
    assert rxy > 0.5 and abs(expected) < rxy  # most of the plain figure was z


def test_partial_spearman_removes_a_shared_driver() -> None:
    """C and R both follow the excursion and nothing else: plain Spearman is high, the partial
    one is near zero. A C that also knows R's own part keeps a high partial."""
    rng = np.random.default_rng(3)
    exc = rng.random(2_000)
    own = rng.random(2_000)
    r = exc * (1 + own)
    c_vol = exc * (1 + rng.random(2_000))
    c_knows = exc * (1 + own + 0.1 * rng.random(2_000))
    plain = spearman(c_vol, r)
    assert plain is not None and plain > 0.7
    vol_partial = partial_spearman(c_vol, r, exc)
    knows_partial = partial_spearman(c_knows, r, exc)
    assert vol_partial is not None and abs(vol_partial) < 0.1
    assert knows_partial is not None and knows_partial > 0.8


def test_partial_spearman_degenerate_and_matrix_controls() -> None:
    assert partial_spearman([1, 2, 3], [1, 2, 3], [3, 1, 2]) is None  # n < k + 3
    x = np.arange(10.0)
    assert partial_spearman(x, x[::-1], x) is None  # explained entirely by the control
    rng = np.random.default_rng(5)
    z = rng.random((100, 2))
    a, b = rng.random(100), rng.random(100)
    two = partial_spearman(a, b, z)
    assert two is not None and -1 <= two <= 1
    with pytest.raises(ValueError):
        partial_spearman(a, b, z[:50])


def test_rank_r2_is_spearman_squared_and_grows_with_predictors() -> None:
    rng = np.random.default_rng(11)
    a, b = rng.random(400), rng.random(400)
    y = a + b
    rho = spearman(a, y)
    assert rho is not None
    assert rank_r2(y, a) == pytest.approx(rho**2)
    both = rank_r2(y, a, b)
    alone = rank_r2(y, a)
    assert both is not None and alone is not None and both > alone + 0.3
    assert rank_r2([1, 1, 1, 1], [1, 2, 3, 4]) is None


def test_side_excursion_and_baseline() -> None:
    down, up = side_excursion([100.0, 100.0, 0.0], [103.0, 100.0, 1.0], [98.0, 95.0, 1.0])
    assert down[:2].tolist() == pytest.approx([0.02, 0.05])
    assert up[:2].tolist() == pytest.approx([0.03, 0.0])
    assert np.isnan(down[2]) and np.isnan(up[2])  # no opening price: not scorable
    assert baseline_c([1e9, 2e9], [0.01, 0.02]).tolist() == pytest.approx([1e7, 4e7])


def test_score_windows_scores_every_map_on_the_same_pairs() -> None:
    rng = np.random.default_rng(2)
    n = 500
    exc = rng.random(n) * 0.02
    oi = 5e9 + rng.random(n) * 1e9
    where = rng.random(n)  # how much sits in the crossed band: only a real map knows it
    r = oi * exc * where
    model = oi * exc * (where + 0.05 * rng.random(n))
    naive = oi * exc * rng.random(n)
    model[7] = np.nan  # one pair a map cannot score: dropped for every map
    window = np.repeat(np.arange(n // 2), 2)
    res = score_windows(r, exc, oi, {"model": model, "naive": naive}, window=window)
    assert res.n == n - 1 and res.n_windows == n // 2
    assert set(res.maps) == {"model", "naive", "baseline"}
    for s in res.maps.values():
        assert s.n == n - 1
    m, nv, b = res.maps["model"], res.maps["naive"], res.maps["baseline"]
    assert m.partial is not None and nv.partial is not None and b.partial is not None
    assert m.partial > 0.8 > nv.partial
    assert m.r2_gain is not None and nv.r2_gain is not None and m.r2_gain > nv.r2_gain
    assert b.r2 == pytest.approx(res.baseline_r2)
    # The same figures from score_map on the kept pairs.
    keep = np.isfinite(model)
    direct = score_map(model[keep], r[keep], exc[keep], oi[keep] * exc[keep])
    assert direct == m
    with pytest.raises(ValueError):
        score_windows(r, exc, oi, {"baseline": model})
    with pytest.raises(ValueError):
        score_windows(r[:10], exc, oi, {"model": model})


def test_block_bootstrap_intervals() -> None:
    rng = np.random.default_rng(4)
    n = 2_000
    exc = rng.random(n)
    own = rng.random(n)
    r = exc * (1 + own)
    good = exc * (1 + own + 0.5 * rng.random(n))
    poor = exc * (1 + 0.3 * own + rng.random(n))
    point = partial_spearman(good, r, exc)
    ci = partial_interval(good, r, exc, block=20)
    assert point is not None and ci is not None and ci[0] < point < ci[1]
    assert ci[1] - ci[0] < 0.1
    assert partial_interval(good, r, exc, block=20) == ci  # seeded
    lead = partial_interval(good, r, exc, minus=poor, block=20)
    assert lead is not None and lead[0] > 0  # the better map wins beyond the noise
    assert partial_interval(good[:100], r[:100], exc[:100], block=20) is None  # < 10 blocks
    res = score_windows(r, exc, np.full(n, 1e9), {"good": good, "poor": poor}, block=20)
    assert res.maps["good"].partial_ci == ci
    assert set(res.differences) == {"good-poor", "good-baseline"}
    assert res.differences["good-poor"] == lead
    assert score_windows(r, exc, np.full(n, 1e9), {"good": good}).differences == {}
