"""A fixed absolute price grid per market, re-centred without losing mass.

Bin edges sit on multiples of the bin width (origin is a multiple of it), so re-centring by a
whole number of bins keeps every edge where it was and maps mass bin-for-bin. The width is a
"nice" number (1, 2, 2.5 or 5 × 10^k) near `bin_pct` of the price so ladder labels read well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray


def nice_width(raw: float) -> float:
    """Round a positive width to 1, 2, 2.5 or 5 × 10^k (the nearest in log terms)."""
    if not raw > 0 or not math.isfinite(raw):
        raise ValueError(f"bin width must be positive and finite, not {raw!r}")
    exp = math.floor(math.log10(raw))
    base = 10.0**exp
    best = min((1.0, 2.0, 2.5, 5.0, 10.0), key=lambda m: abs(math.log(raw / (m * base))))
    return best * base


@dataclass(frozen=True, slots=True)
class PriceGrid:
    origin: float  # lower edge of bin 0, a multiple of `width`
    width: float
    n_bins: int

    @classmethod
    def around(
        cls,
        price: float,
        *,
        bin_pct: float = 0.0005,
        span_pct: float = 0.35,
        keep_width: float | None = None,
    ) -> PriceGrid:
        """A grid covering price·(1 ± span_pct) with bins of about bin_pct of price.

        `keep_width` reuses an existing width while it stays within 2× of the ideal one, so a
        re-centre maps bins one-to-one instead of re-binning.
        """
        if not price > 0 or not math.isfinite(price):
            raise ValueError(f"price must be positive and finite, not {price!r}")
        ideal = price * bin_pct
        if keep_width is not None and 0.5 < keep_width / ideal < 2.0:
            width = keep_width
        else:
            width = nice_width(ideal)
        half = max(1, math.ceil(price * span_pct / width))
        centre = math.floor(price / width)
        origin_bin = max(centre - half, 0)  # prices never go below zero
        return cls(origin=origin_bin * width, width=width, n_bins=2 * half)

    @property
    def origin_bin(self) -> int:
        """Absolute bin number of bin 0 (bins are numbered from price 0)."""
        return round(self.origin / self.width)

    @property
    def top(self) -> float:
        return self.origin + self.n_bins * self.width

    @property
    def centre(self) -> float:
        return self.origin + 0.5 * self.n_bins * self.width

    def lows(self) -> NDArray[np.float64]:
        return self.origin + self.width * np.arange(self.n_bins, dtype=np.float64)

    def centres(self) -> NDArray[np.float64]:
        return self.lows() + 0.5 * self.width

    def index(self, prices: ArrayLike) -> NDArray[np.int64]:
        """Bin index of each price (may lie outside [0, n_bins); see `clipped_index`).

        Prices far off the grid give -1 or n_bins, never an integer overflow (a price 1e18
        bins away does not fit an int64)."""
        p = np.asarray(prices, dtype=np.float64)
        return np.clip(np.floor((p - self.origin) / self.width), -1, self.n_bins).astype(np.int64)

    def clipped_index(self, prices: ArrayLike) -> NDArray[np.int64]:
        """Bin index, with prices beyond the grid put in the edge bins (keeps mass)."""
        return np.clip(self.index(prices), 0, self.n_bins - 1)

    def index_of(self, price: float) -> int:
        return math.floor(min(max((price - self.origin) / self.width, -1.0), self.n_bins))

    def contains(self, price: float) -> bool:
        return self.origin <= price < self.top

    def needs_recentre(self, price: float, *, keep_pct: float = 0.5) -> bool:
        """True when price has left the middle `keep_pct` of the grid."""
        half_span = 0.5 * self.n_bins * self.width
        return abs(price - self.centre) > keep_pct * half_span


def remap(values: NDArray[np.float64], old: PriceGrid, new: PriceGrid) -> NDArray[np.float64]:
    """Move binned mass (last axis) from `old` to `new`; total mass is conserved exactly.

    Each old bin's mass goes to the new bin holding its centre; mass beyond the new grid lands
    in its edge bins rather than being dropped.
    """
    if values.shape[-1] != old.n_bins:
        raise ValueError("values do not match the old grid")
    lead = values.shape[:-1]
    flat = values.reshape(-1, old.n_bins)
    target = new.clipped_index(old.centres())
    rows = flat.shape[0]
    out = np.zeros((rows, new.n_bins), dtype=np.float64)
    flat_target = (np.arange(rows)[:, None] * new.n_bins + target[None, :]).ravel()
    out.ravel()[:] = np.bincount(flat_target, weights=flat.ravel(), minlength=rows * new.n_bins)
    return out.reshape(*lead, new.n_bins)
