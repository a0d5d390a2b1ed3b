"""The nearest large estimated cluster above and below the price. Pure numpy, no UI.

One definition, used by the overview, the ladder's header and `liqtui snapshot`:

- **levels**: the snapshot's E in price levels of about `LEVEL_PCT` (0.25%) of the price, whole
  bins of the model's grid, aligned on multiples of the level's span (so levels keep their
  prices while the price moves), within `REACH_PCT` (15%) of the price. Above the price a
  level holds the E short there (a rise liquidates it), below the price the E long (a fall
  does); the level holding the price is split at the price, each bin's E spread evenly over its
  range (as `liqtui.model.risk.e_within` counts it).
- **large**: a level holding at least `LARGE_MULTIPLE` (1.5) times the median non-empty level
  (both sides pooled) *and* in the top decile (`LARGE_QUANTILE`) of them. The median keeps a
  flat map from showing clusters that are not there (nothing is 1.5× the median); the decile
  keeps a map with a few huge walls from calling every modest level large. With fewer than
  `MIN_LEVELS` non-empty levels nothing is called large.
- **cluster**: the run of adjacent large levels starting with the one nearest the price; its
  E is the run's total, its price the mid of the run's largest level, its distance the signed
  distance from the price to that mid (+ above, − below).

E is as the map shows it (relative until calibrated, see `MarketSnapshot.scale_label`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from liqtui.model.engine import MarketSnapshot

LEVEL_PCT = 0.0025
REACH_PCT = 0.15
LARGE_MULTIPLE = 1.5
LARGE_QUANTILE = 0.9
MIN_LEVELS = 5

NO_MAP = "no price or map for this market yet"
NO_ESTIMATE = "no estimated levels yet (needs open interest)"
TOO_FEW = f"fewer than {MIN_LEVELS} levels with E"


@dataclass(frozen=True, slots=True)
class Cluster:
    """A run of adjacent large levels on one side of the price."""

    side: str  # "short": above the price (a rise liquidates it); "long": below
    price: float  # mid of the run's largest level (its part on this side of the price)
    price_low: float  # the run's price range
    price_high: float
    distance_pct: float  # (price / current price − 1) × 100: + above, − below
    usd: float  # E in the run (USD as the map shows it)
    peak_usd: float  # E in its largest level
    levels: int  # levels in the run


@dataclass(frozen=True, slots=True)
class NearestClusters:
    """The nearest large cluster above and below the price (None: none within reach)."""

    above: Cluster | None
    below: Cluster | None
    threshold_usd: float | None  # a level is large from this E on (None: not computable)
    median_usd: float | None  # the median non-empty level
    level_step: float | None  # price span of one level
    reach_pct: float = REACH_PCT * 100
    reason: str | None = None  # why nothing could be looked for


def level_bins(price: float, bin_width: float, level_pct: float = LEVEL_PCT) -> int:
    """Grid bins per level: the whole number nearest `level_pct` of the price (at least 1)."""
    return max(1, round(level_pct * price / bin_width))


def nearest_clusters(
    snap: MarketSnapshot,
    *,
    level_pct: float = LEVEL_PCT,
    reach_pct: float = REACH_PCT,
    multiple: float = LARGE_MULTIPLE,
    quantile: float = LARGE_QUANTILE,
    min_levels: int = MIN_LEVELS,
) -> NearestClusters:
    """The nearest large cluster of E above and below the snapshot's price (module doc)."""
    grid, price = snap.grid, snap.price
    if grid is None or price is None or not price > 0 or not snap.estimated_long.size:
        return NearestClusters(None, None, None, None, None, reach_pct * 100, NO_MAP)
    if not snap.has_estimate:
        return NearestClusters(None, None, None, None, None, reach_pct * 100, NO_ESTIMATE)
    n, w = grid.n_bins, grid.width
    k = level_bins(price, w, level_pct)
    step = k * w
    lows = grid.origin + w * np.arange(n, dtype=np.float64)
    # Each bin's share above / below the price (the bin holding it split at it).
    above = np.clip((lows + w - price) / w, 0.0, 1.0)
    below = 1.0 - above
    inside = (lows + w > price * (1 - reach_pct)) & (lows < price * (1 + reach_pct))
    short = np.where(inside, np.asarray(snap.estimated_short, dtype=np.float64) * above, 0.0)
    long_ = np.where(inside, np.asarray(snap.estimated_long, dtype=np.float64) * below, 0.0)
    # Levels: groups of k bins on absolute multiples of k (group g covers [g·step, (g+1)·step)).
    first = grid.origin_bin // k
    group = (grid.origin_bin + np.arange(n)) // k - first
    n_groups = int(group[-1]) + 1 if n else 0
    short_lv = np.bincount(group, weights=short, minlength=n_groups).astype(np.float64)
    long_lv = np.bincount(group, weights=long_, minlength=n_groups).astype(np.float64)
    values = np.concatenate([short_lv[short_lv > 0], long_lv[long_lv > 0]])
    if values.size < min_levels:
        return NearestClusters(None, None, None, None, step, reach_pct * 100, TOO_FEW)
    ranked = np.sort(values)  # median and quantile from one sort (np.quantile's linear rule)
    median = float(np.interp(0.5 * (ranked.size - 1), np.arange(ranked.size), ranked))
    top = float(np.interp(quantile * (ranked.size - 1), np.arange(ranked.size), ranked))
    threshold = max(multiple * median, top)
    g_price = math.floor(price / step) - first
    g_lows = (first + np.arange(n_groups, dtype=np.float64)) * step
    up = _run(short_lv, threshold, g_price, +1)
    down = _run(long_lv, threshold, g_price, -1)
    return NearestClusters(
        above=_cluster("short", up, short_lv, g_lows, step, price),
        below=_cluster("long", down, long_lv, g_lows, step, price),
        threshold_usd=threshold,
        median_usd=median,
        level_step=step,
        reach_pct=reach_pct * 100,
    )


def _run(
    levels: NDArray[np.float64], threshold: float, start: int, direction: int
) -> tuple[int, int] | None:
    """(first, last) group of the run of large levels nearest `start` going `direction`."""
    large = levels >= threshold
    large &= levels > 0
    idx = np.flatnonzero(large)
    idx = idx[idx >= start] if direction > 0 else idx[idx <= start][::-1]
    if not idx.size:
        return None
    # The run: consecutive groups from the nearest one on.
    gaps = np.flatnonzero(np.abs(np.diff(idx)) != 1)
    end = int(idx[gaps[0]]) if gaps.size else int(idx[-1])
    a, b = int(idx[0]), end
    return (min(a, b), max(a, b))


def _cluster(
    side: str,
    run: tuple[int, int] | None,
    levels: NDArray[np.float64],
    g_lows: NDArray[np.float64],
    step: float,
    price: float,
) -> Cluster | None:
    if run is None:
        return None
    a, b = run
    peak = a + int(np.argmax(levels[a : b + 1]))
    low, high = float(g_lows[peak]), float(g_lows[peak]) + step
    # The part of the level on this side of the price (the level holding it is split).
    low, high = (max(low, price), high) if side == "short" else (low, min(high, price))
    mid = (low + high) / 2
    run_low = max(float(g_lows[a]), price) if side == "short" else float(g_lows[a])
    run_high = float(g_lows[b]) + step if side == "short" else min(float(g_lows[b]) + step, price)
    return Cluster(
        side=side,
        price=mid,
        price_low=run_low,
        price_high=run_high,
        distance_pct=(mid / price - 1.0) * 100,
        usd=float(levels[a : b + 1].sum()),
        peak_usd=float(levels[peak]),
        levels=b - a + 1,
    )
