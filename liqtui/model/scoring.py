"""Scoring a liquidation map per window and side: pure numpy, no I/O, no model state.

The unit of scoring is one (window, side) pair: C = the notional a map said price crossed on that
side in that window, R = the notional actually liquidated there. Everything here takes plain
arrays, one entry per (window, side), so the calibrator, the parameter fit and anyone reading
`liqtui calibrate --format json`'s `windows` compute the same figures.

Why not just Spearman(C, R): most of it is volatility. A window in which price fell 3% liquidates
more longs than one in which it fell 0.1%, and *any* map that puts notional below the price says
so. The map-free baseline C = open interest × the window's price excursion on that side
(`baseline_c`) knows nothing about where positions sit and still ranks windows well. So the
headline is the *partial* Spearman of C and R controlling for the excursion (`partial_spearman`):
what the map knows beyond "price moved far". The explained-variance comparison (`rank_r2`) asks
the same of the baseline directly: how much of R's rank variance the map explains on top of it.

The excursion of a window, per side, is measured from the window's opening price
(`side_excursion`): longs (below the price) (open − low)/open, shorts (high − open)/open.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from numpy.typing import ArrayLike, NDArray

FloatArray = NDArray[np.float64]


def rankdata(x: ArrayLike) -> FloatArray:
    """Ranks 1..n with ties given their average rank (vectorised; no per-group loop)."""
    a = np.asarray(x, dtype=np.float64).ravel()
    n = a.size
    if n == 0:
        return np.empty(0, dtype=np.float64)
    order = np.argsort(a, kind="mergesort")
    sorted_a = a[order]
    new = np.r_[True, sorted_a[1:] != sorted_a[:-1]]
    starts = np.flatnonzero(new)
    ends = np.r_[starts[1:], n]
    average = 0.5 * (starts + ends - 1) + 1.0
    ranks = np.empty(n, dtype=np.float64)
    ranks[order] = average[np.cumsum(new) - 1]
    return ranks


def _finite_rows(*arrays: FloatArray) -> NDArray[np.bool_]:
    keep = np.ones(arrays[0].shape[0], dtype=bool)
    for a in arrays:
        fin = np.isfinite(a)
        keep &= fin if fin.ndim == 1 else fin.all(axis=1)
    return keep


def _corr(x: FloatArray, y: FloatArray) -> float | None:
    x = x - x.mean()
    y = y - y.mean()
    den = float(np.sqrt(np.dot(x, x) * np.dot(y, y)))
    if den <= 1e-12 * max(1.0, float(x.size) ** 3):  # a constant input (ranks: all ties)
        return None
    return float(np.clip(np.dot(x, y) / den, -1.0, 1.0))


def spearman(a: ArrayLike, b: ArrayLike) -> float | None:
    """Spearman rank correlation of a and b (pairs with a NaN dropped); None with fewer than 3
    pairs or a constant input."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"spearman: lengths differ ({x.size} and {y.size})")
    keep = _finite_rows(x, y)
    x, y = x[keep], y[keep]
    if x.size < 3:
        return None
    return _corr(rankdata(x), rankdata(y))


def _controls(z: ArrayLike, n: int) -> FloatArray:
    m = np.asarray(z, dtype=np.float64)
    if m.ndim == 1:
        m = m[:, None]
    if m.ndim != 2 or m.shape[0] != n:
        raise ValueError(f"controls must have {n} rows (one per pair), got shape {m.shape}")
    return m


def _residual(y: FloatArray, design: FloatArray) -> FloatArray:
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    return np.asarray(y - design @ coef, dtype=np.float64)


def partial_spearman(a: ArrayLike, b: ArrayLike, controls: ArrayLike) -> float | None:
    """Spearman correlation of a and b controlling for `controls` (one array of n, or an n×k
    matrix): the Pearson correlation of rank(a) and rank(b) after each is regressed linearly on
    an intercept and the ranks of the controls. Rows with a NaN anywhere are dropped. None with
    fewer than k + 3 rows or when a or b is explained entirely by the controls."""
    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"partial_spearman: lengths differ ({x.size} and {y.size})")
    z = _controls(controls, x.size)
    keep = _finite_rows(x, y, z)
    x, y, z = x[keep], y[keep], z[keep]
    if x.size < z.shape[1] + 3:
        return None
    design = np.column_stack([np.ones(x.size), *(rankdata(col) for col in z.T)])
    return _corr(_residual(rankdata(x), design), _residual(rankdata(y), design))


def rank_r2(target: ArrayLike, *predictors: ArrayLike) -> float | None:
    """Share of the variance of rank(target) explained by a linear fit on the ranks of the
    predictors (with an intercept): R² in rank space. With one predictor it is Spearman².
    Rows with a NaN anywhere are dropped; None with too few rows or a constant target."""
    y = np.asarray(target, dtype=np.float64).ravel()
    cols = [np.asarray(p, dtype=np.float64).ravel() for p in predictors]
    for c in cols:
        if c.shape != y.shape:
            raise ValueError(f"rank_r2: lengths differ ({y.size} and {c.size})")
    keep = _finite_rows(y, *cols)
    y = y[keep]
    if y.size < len(cols) + 3:
        return None
    ry = rankdata(y)
    total = float(np.sum((ry - ry.mean()) ** 2))
    if total <= 0:
        return None
    design = np.column_stack([np.ones(y.size), *(rankdata(c[keep]) for c in cols)])
    resid = _residual(ry, design)
    return float(max(0.0, 1.0 - float(np.dot(resid, resid)) / total))


def side_excursion(
    open_: ArrayLike, high: ArrayLike, low: ArrayLike
) -> tuple[FloatArray, FloatArray]:
    """Per window, how far price went on each side of its opening price, as a fraction of it:
    (long, short) = ((open − low)/open, (high − open)/open), never negative. Longs are
    liquidated below the price, so the long side's excursion is the fall."""
    o = np.asarray(open_, dtype=np.float64)
    h = np.asarray(high, dtype=np.float64)
    lo = np.asarray(low, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        down = np.where(o > 0, np.maximum(0.0, (o - lo) / o), np.nan)
        up = np.where(o > 0, np.maximum(0.0, (h - o) / o), np.nan)
    return down, up


def baseline_c(oi_usd: ArrayLike, excursion: ArrayLike) -> FloatArray:
    """The map-free baseline: C = open interest (USD, at the window's start) × the window's
    excursion on that side. It knows how much is open and how far price went, nothing about
    where positions sit."""
    return np.asarray(oi_usd, dtype=np.float64) * np.asarray(excursion, dtype=np.float64)


def block_bootstrap(
    stat: Callable[[NDArray[np.intp]], float | None],
    n: int,
    *,
    block: int,
    reps: int = 200,
    level: float = 0.9,
    seed: int = 0,
) -> tuple[float, float] | None:
    """A `level` confidence interval of `stat` by the moving-block bootstrap: rows are in time
    order and neighbours are correlated (a volatile day is volatile for hours), so whole blocks
    of `block` consecutive rows are resampled. `stat` gets the resampled row indices. None when
    fewer than 10 blocks of rows (too few to resample) or when fewer than half the replicates
    give a value. Seeded: the same input gives the same interval."""
    if n < 10 * block or reps < 10:
        return None
    rng = np.random.default_rng(seed)
    n_blocks = -(-n // block)
    offsets = np.arange(block)
    values = []
    for _ in range(reps):
        starts = rng.integers(0, n - block + 1, n_blocks)
        idx = (starts[:, None] + offsets).ravel()[:n]
        v = stat(idx)
        if v is not None:
            values.append(v)
    if len(values) < reps // 2:
        return None
    tail = 50.0 * (1.0 - level)
    lo, hi = np.percentile(values, [tail, 100.0 - tail])
    return float(lo), float(hi)


def _tie_groups(x: FloatArray) -> tuple[NDArray[np.intp], int]:
    """Each value's group of equal values, numbered in ascending order, and the group count."""
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    new = np.r_[True, sorted_x[1:] != sorted_x[:-1]]
    group = np.empty(x.size, dtype=np.intp)
    group[order] = np.cumsum(new) - 1
    return group, int(new.sum())


def _resampled_ranks(group: NDArray[np.intp], n_groups: int, idx: NDArray[np.intp]) -> FloatArray:
    """rankdata(x[idx]) without sorting again: the resample's ranks follow from how many times
    each group of equal values was drawn (average rank for ties, as rankdata)."""
    drawn = group[idx]
    counts = np.bincount(drawn, minlength=n_groups)
    average = np.cumsum(counts) - 0.5 * (counts - 1)
    return np.asarray(average[drawn], dtype=np.float64)


def _partial_of_ranks(rx: FloatArray, ry: FloatArray, rz: FloatArray) -> float | None:
    """Pearson correlation of rx and ry, each less its linear fit on rz (one control)."""
    zc = rz - rz.mean()
    zz = float(np.dot(zc, zc))

    def residual(a: FloatArray) -> FloatArray:
        ac = a - a.mean()
        return ac - (float(np.dot(ac, zc)) / zz) * zc if zz > 0 else ac

    return _corr(residual(rx), residual(ry))


def partial_interval(
    c: ArrayLike,
    r: ArrayLike,
    excursion: ArrayLike,
    *,
    minus: ArrayLike | None = None,
    block: int = 48,
    reps: int = 200,
    level: float = 0.9,
    seed: int = 0,
) -> tuple[float, float] | None:
    """A `level` block-bootstrap interval of partial_spearman(c, r | excursion), or with `minus`
    (a second map's C on the same rows) of partial(c) − partial(minus): whether one map beats
    another by more than the luck of which windows the sample holds. Rows with a NaN are
    dropped first; `block` rows are resampled together (48: a day of hourly windows × 2
    sides). Ranks are derived from the full sample's order (no sort per replicate)."""
    cv = np.asarray(c, dtype=np.float64).ravel()
    rv = np.asarray(r, dtype=np.float64).ravel()
    ev = np.asarray(excursion, dtype=np.float64).ravel()
    arrays = [cv, rv, ev] if minus is None else [cv, rv, ev, np.asarray(minus, np.float64).ravel()]
    if len({a.size for a in arrays}) != 1:
        raise ValueError("partial_interval: lengths differ")
    keep = _finite_rows(*arrays)
    groups = [_tie_groups(a[keep]) for a in arrays]

    def stat(idx: NDArray[np.intp]) -> float | None:
        ranks = [_resampled_ranks(g, k, idx) for g, k in groups]
        first = _partial_of_ranks(ranks[0], ranks[1], ranks[2])
        if minus is None or first is None:
            return first
        second = _partial_of_ranks(ranks[3], ranks[1], ranks[2])
        return None if second is None else first - second

    return block_bootstrap(stat, int(keep.sum()), block=block, reps=reps, level=level, seed=seed)


@dataclass(frozen=True, slots=True)
class MapScore:
    """How well one map's C ranks R over the scored (window, side) pairs."""

    spearman: float | None  # plain Spearman(C, R)
    partial: float | None  # Spearman(C, R | excursion): the headline
    r2: float | None  # rank-space R² of R on C alone (= spearman²)
    r2_with_baseline: float | None  # rank-space R² of R on the baseline and C together
    r2_gain: float | None  # r2_with_baseline − the baseline's own r2: what C adds to it
    n: int  # pairs scored (finite C, R, excursion)
    partial_ci: tuple[float, float] | None = None  # 90% block-bootstrap interval (if asked)


@dataclass(frozen=True, slots=True)
class WindowScores:
    """Every map scored on exactly the same (window, side) pairs, with the baseline."""

    n: int  # pairs scored
    n_windows: int  # distinct windows among them (a window gives up to two pairs)
    maps: dict[str, MapScore]  # by name: e.g. "model", "naive", "baseline"
    baseline_r2: float | None  # rank-space R² of R on the baseline alone
    # 90% interval of partial(first map) − partial(other), keyed "model-naive", "model-baseline"
    # (the first map of `maps` against every other one and the baseline; only if asked).
    differences: dict[str, tuple[float, float] | None] = field(default_factory=dict)


def score_map(
    c: ArrayLike, r: ArrayLike, excursion: ArrayLike, baseline: ArrayLike | None = None
) -> MapScore:
    """Score one map's C against R per (window, side) pair; `baseline` (the OI × excursion C of
    the same pairs) adds the explained-variance comparison. Pairs with a NaN are dropped."""
    cv = np.asarray(c, dtype=np.float64).ravel()
    rv = np.asarray(r, dtype=np.float64).ravel()
    ev = np.asarray(excursion, dtype=np.float64).ravel()
    bv = np.asarray(baseline, dtype=np.float64).ravel() if baseline is not None else None
    arrays = [cv, rv, ev] + ([bv] if bv is not None else [])
    if len({a.size for a in arrays}) != 1:
        raise ValueError(f"score_map: lengths differ ({', '.join(str(a.size) for a in arrays)})")
    keep = _finite_rows(*arrays)
    cv, rv, ev = cv[keep], rv[keep], ev[keep]
    both = gain = None
    if bv is not None:
        bv = bv[keep]
        both = rank_r2(rv, bv, cv)
        alone = rank_r2(rv, bv)
        gain = both - alone if both is not None and alone is not None else None
    return MapScore(
        spearman=spearman(cv, rv),
        partial=partial_spearman(cv, rv, ev),
        r2=rank_r2(rv, cv),
        r2_with_baseline=both,
        r2_gain=gain,
        n=int(cv.size),
    )


def score_windows(
    realized: ArrayLike,
    excursion: ArrayLike,
    oi_usd: ArrayLike,
    maps: Mapping[str, ArrayLike],
    *,
    window: Sequence[int] | NDArray[np.int64] | None = None,
    block: int | None = None,
    reps: int = 200,
) -> WindowScores:
    """Score every map in `maps` (name → C per pair) and the OI × excursion baseline on exactly
    the same (window, side) pairs: those where R, the excursion, the OI and every map's C are
    finite. `window` (an id per pair, e.g. its start in ms) only counts distinct windows.

    With `block` (rows in time order; e.g. 48 for hourly windows × 2 sides = a day), each
    partial gets a 90% block-bootstrap interval, and the first map's lead over every other
    (and the baseline) one for the difference (`differences`); about 0.2 s each for 8,600
    rows. Without it (the default, for fitting loops) nothing is resampled."""
    rv = np.asarray(realized, dtype=np.float64).ravel()
    ev = np.asarray(excursion, dtype=np.float64).ravel()
    ov = np.asarray(oi_usd, dtype=np.float64).ravel()
    if "baseline" in maps:
        raise ValueError("score_windows: 'baseline' is the OI × excursion map's name")
    cs = {name: np.asarray(c, dtype=np.float64).ravel() for name, c in maps.items()}
    sizes = {rv.size, ev.size, ov.size, *(c.size for c in cs.values())}
    if len(sizes) != 1:
        raise ValueError(f"score_windows: arrays differ in length ({sorted(sizes)})")
    keep = _finite_rows(rv, ev, ov, *cs.values())
    kept = {name: c[keep] for name, c in cs.items()}
    kept["baseline"] = baseline_c(ov, ev)[keep]
    rv, ev = rv[keep], ev[keep]
    scores = {
        name: score_map(c, rv, ev, kept["baseline"] if name != "baseline" else None)
        for name, c in kept.items()
    }
    differences: dict[str, tuple[float, float] | None] = {}
    if block is not None:
        for name, c in kept.items():
            ci = partial_interval(c, rv, ev, block=block, reps=reps)
            scores[name] = replace(scores[name], partial_ci=ci)
        first = next(iter(cs), None)
        for other in kept:
            if first is not None and other != first:
                differences[f"{first}-{other}"] = partial_interval(
                    kept[first], rv, ev, minus=kept[other], block=block, reps=reps
                )
    n_windows = int(np.unique(np.asarray(window)[keep]).size) if window is not None else 0
    return WindowScores(
        n=int(rv.size),
        n_windows=n_windows,
        maps=scores,
        baseline_r2=rank_r2(rv, kept["baseline"]),
        differences=differences,
    )
