"""Color scales and the cursor readout: pure functions on ladder rows and snapshots.

The ladder's intensity levels (1..LEVELS, shown as ░▒▓█ and as the heat ramp) come from one of
two scales:

- relative: the percentile of a row's E among the non-empty rows on screen, so the busiest
  quarter of the rows is always █ whatever the market's size;
- absolute: half a decade of USD per level below `top_usd` (the default 10M puts ░ at 1k,
  ▒ at 10k, ▓ at 100k and █ at 1M and more), so colors compare across markets and time.

Levels are quantized to LEVELS steps, so noise in the data does not repaint rows.
"""

from __future__ import annotations

import bisect
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from liqtui.model.engine import MarketSnapshot
from liqtui.output.ladder import GLYPHS, LEVELS, LadderRow, compact_usd

SCALES = ("relative", "absolute")


@dataclass(frozen=True, slots=True)
class Legend:
    """Lower USD bound of each glyph step (░ ▒ ▓ █) and the scale's name."""

    mode: str
    bounds: tuple[float, ...]  # 4 values, ascending; 0 when the view is empty

    def parts(self) -> list[tuple[str, int]]:
        """(glyph + amount, level role) pairs: "░1k", "▒10k", ..."""
        glyphs = GLYPHS.strip()
        out = []
        for i, (glyph, bound) in enumerate(zip(glyphs, self.bounds, strict=True)):
            out.append((f"{glyph}{compact_usd(bound) if bound > 0 else '0'}", 2 * i + 2))
        return out


def absolute_level(value: float, top_usd: float) -> int:
    if value <= 0 or top_usd <= 0:
        return 0
    return int(min(max(math.ceil(LEVELS + 2 * math.log10(value / top_usd)), 1), LEVELS))


def absolute_legend(top_usd: float) -> Legend:
    # glyph g (1..4) starts at level 2g-1, i.e. at top · 10^(g-5)
    return Legend("absolute", tuple(top_usd * 10.0 ** (g - 5) for g in range(1, 5)))


def _relative_levels(values: np.ndarray) -> tuple[np.ndarray, Legend]:
    """Percentile levels among the non-zero values (ties share the higher rank)."""
    nz = np.sort(values[values > 0])
    levels = np.zeros(values.shape, dtype=np.int64)
    if nz.size == 0:
        return levels, Legend("relative", (0.0, 0.0, 0.0, 0.0))
    ranks = np.searchsorted(nz, values, side="right")  # values <= v
    frac = ranks / nz.size
    levels = np.where(values > 0, np.clip(np.ceil(LEVELS * frac), 1, LEVELS), 0).astype(np.int64)
    # glyph g covers levels 2g-1..2g: fractions above (g-1)/4 of the rows
    bounds = []
    for g in range(1, 5):
        k = math.floor((g - 1) / 4 * nz.size)  # first rank index reaching glyph g
        bounds.append(float(nz[min(k, nz.size - 1)]))
    return levels, Legend("relative", tuple(bounds))


def apply_scale(
    rows: Sequence[LadderRow], mode: str, top_usd: float = 10_000_000.0
) -> tuple[list[LadderRow], Legend]:
    """The rows with their long/short levels on the chosen scale, and the legend."""
    if not rows:
        legend = absolute_legend(top_usd) if mode == "absolute" else Legend("relative", (0,) * 4)
        return [], legend
    longs = np.array([r.long_usd for r in rows])
    shorts = np.array([r.short_usd for r in rows])
    if mode == "absolute":
        long_lv = [absolute_level(v, top_usd) for v in longs]
        short_lv = [absolute_level(v, top_usd) for v in shorts]
        legend = absolute_legend(top_usd)
    else:
        both, legend = _relative_levels(np.concatenate([longs, shorts]))
        long_lv, short_lv = list(both[: len(rows)]), list(both[len(rows) :])
    out = [
        r
        if (r.long_level, r.short_level) == (lv_l, lv_s)
        else dataclasses.replace(r, long_level=int(lv_l), short_level=int(lv_s))
        for r, lv_l, lv_s in zip(rows, long_lv, short_lv, strict=True)
    ]
    return out, legend


def percentile_level(sorted_values: Sequence[float], value: float) -> int:
    if value <= 0 or not sorted_values:
        return 0
    rank = bisect.bisect_right(sorted_values, value)
    return int(min(max(math.ceil(LEVELS * rank / len(sorted_values)), 1), LEVELS))


# -- cursor readout ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Readout:
    """Estimated notional between the price and the cursor: the longs liquidated if price falls
    to the cursor (cursor below), or the shorts if it rises to it (cursor above)."""

    target: float  # the cursor row's far edge
    side: str  # "long" or "short"
    usd: float  # E, cumulative
    realized_usd: float  # R in the same range (the window's prints)
    pct: float  # target / price - 1


def cumulative_to(snap: MarketSnapshot, low: float, high: float) -> Readout | None:
    """The readout for a cursor row covering [low, high): up to `high` when the row is above
    the price, down to `low` when below. None without a price or a grid."""
    grid, price = snap.grid, snap.price
    if grid is None or price is None or not snap.estimated_long.size:
        return None
    centres = grid.origin + (np.arange(grid.n_bins) + 0.5) * grid.width
    if low > price:  # above: shorts from the price up to the top of the cursor row
        mask = (centres > price) & (centres < high)
        side, est, real = "short", snap.estimated_short, snap.realized_short
        target = high
    elif high <= price:  # below: longs from the bottom of the cursor row up to the price
        mask = (centres >= low) & (centres < price)
        side, est, real = "long", snap.estimated_long, snap.realized_long
        target = low
    else:
        return Readout(price, "long", 0.0, 0.0, 0.0)
    return Readout(
        target=target,
        side=side,
        usd=float(est[mask].sum()),
        realized_usd=float(real[mask].sum()) if real.size == mask.size else 0.0,
        pct=target / price - 1.0,
    )
