"""Cascade-risk indicators and scenarios per side (models.md §3.3). Pure numpy, no UI.

These are **risk indicators and scenarios, not forecasts.** The only systematic study found
(models.md §3.2) measured almost no predictive power for pre-event observables; what these figures
say is how much estimated forced flow sits near the price compared with the visible book, and what
would follow *if* a shock happened under a given book withdrawal.

Per side (longs below the price, liquidated by a fall; shorts above, by a rise):
- E within 0.5, 1, 2 and 5% of the price (`e_within`: the one definition, used by the cascade
  panel, the alerts and the snapshot JSON/text): E long between p·(1 − X) and p, E short between
  p and p·(1 + X), each bin's E spread evenly over its price range, so a bin counts by the share
  of its range inside (the bin holding the price split at the price);
- R_X = ρ·E within X% / visible book depth within X% (bids for longs, asks for shorts); beyond the
  distance the visible book reaches, the depth is extrapolated with D(u) = A·u^κ fitted to the
  book (κ = 1.16, the median of models.md §3.2, when a fit is impossible);
- the iterative cascade (item 3, with flow conserved) for shocks of 1, 2 and 5% under depth
  survival W = 1, 0.29, 0.06 (calm / typical / stressed): the flow that moved the price by s
  (W·D(s)) and the forced flow ρ·V(u) of the levels crossed are absorbed by the same book, so
  u₀ = s, u_{k+1} = max(u_k, D⁻¹(D(s) + ρ·V(u_k)/W)) until it stops, or it reaches the edge of
  the map (runaway). models.md's item 3 writes D⁻¹(ρ·V/W): that lets the forced flow use book
  depth the shock had already consumed, and understates every cascade (issue 13);
- W_crit(s, k) = min over u in (s, k·s] of ρ·V(u) / (D(u) − D(s)): a shock s at least k-folds
  (k = 2) when the book keeps less than W_crit of its depth; < 0.06 low, 0.06–0.29 elevated,
  > 0.29 high (a typical withdrawal is enough);
- a live cascade detector: realized notional in the last minute against the median active minute
  of the last 7 days, and a price move of at least 300 bp in 15 minutes that is also ≥ 3 σ of
  the 15-minute moves of the last 7 days (the absolute threshold keeps z-scores from firing on
  quiet-market noise).

ρ, the share of estimated notional treated as forced, is explicit (`snapshot.risk_rho`, the
setting `model.risk_rho`): 1 by default (every estimated position is liquidated when price
crosses it), or a configured value, and the report says which (`rho`, `rho_source`,
`rho_note`). The ρ `liqtui calibrate` measures is never applied on its own: Binance's and OKX's
liquidation streams are throttled, so a ρ measured on them is a lower bound, and applying it
would scale every risk figure down without saying so. E within X% is never scaled by ρ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from liqtui.events import BookDepth
    from liqtui.model.engine import MarketSnapshot
    from liqtui.model.grid import PriceGrid
    from liqtui.model.history import ActivityStats

DISCLAIMER = "risk indicators and scenarios, not forecasts"
DISTANCES: tuple[float, ...] = (0.005, 0.01, 0.02, 0.05)
SHOCKS: tuple[float, ...] = (0.01, 0.02, 0.05)
# Depth survival W = D_min / D_pre in liquidation events (models.md §3.2: median 0.294, p10 0.059).
REGIMES: tuple[tuple[str, float], ...] = (("calm", 1.0), ("typical", 0.29), ("stressed", 0.06))
DEFAULT_KAPPA = 1.16
W_CRIT_SHOCK = 0.02
W_CRIT_K = 2.0
W_LOW, W_HIGH = 0.06, 0.29
DEPTH_MAX_AGE_MS = 5 * 60_000
MOVE_THRESHOLD = 0.03  # 300 bp
MOVE_WINDOW_MIN = 15
MOVE_Z = 3.0
MULTIPLE_THRESHOLD = 10.0  # realized minute ≥ 10× the median active minute
MIN_BASELINE_MINUTES = 30  # active minutes needed before the multiple means anything
SIDES = ("long", "short")
RHO_DEFAULT = 1.0  # every estimated position is forced when price crosses it
THROTTLED = "a ρ measured on throttled liquidation feeds (Binance, OKX) is a lower bound"


# -- estimated notional as a function of distance ----------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """Cumulative estimated notional V(u) from the price out to distance u (piecewise linear)."""

    u: NDArray[np.float64]  # knots, increasing, u[0] = 0
    cum: NDArray[np.float64]  # V at the knots, non-decreasing

    def __call__(self, u: float | NDArray[np.float64]) -> float | NDArray[np.float64]:
        return np.interp(u, self.u, self.cum)

    @property
    def edge(self) -> float:
        """Distance of the map's edge on this side."""
        return float(self.u[-1])

    @property
    def total(self) -> float:
        return float(self.cum[-1])


def profile(grid: PriceGrid, price: float, values: NDArray[np.float64], side: str) -> Profile:
    """V(u) of one side: mass spread uniformly inside each bin, partial bin at the price.

    Longs count bins below the price (u = 1 − price_low/p at each lower edge), shorts bins above
    it (u = price_high/p − 1 at each upper edge).
    """
    n, w = grid.n_bins, grid.width
    b0 = min(max(grid.index_of(price), 0), n - 1)
    low0 = grid.origin + b0 * w
    if side == "long":
        frac = min(max((price - low0) / w, 0.0), 1.0)
        masses = values[b0::-1].astype(np.float64).copy()
        masses[0] *= frac
        lows = grid.origin + w * np.arange(b0, -1, -1, dtype=np.float64)
        knots = 1.0 - lows / price
    elif side == "short":
        frac = min(max((low0 + w - price) / w, 0.0), 1.0)
        masses = values[b0:].astype(np.float64).copy()
        masses[0] *= frac
        highs = grid.origin + w * np.arange(b0 + 1, n + 1, dtype=np.float64)
        knots = highs / price - 1.0
    else:
        raise ValueError(f"side must be 'long' or 'short', not {side!r}")
    knots = np.maximum(knots, 0.0)
    u = np.concatenate([[0.0], knots])
    cum = np.concatenate([[0.0], np.cumsum(masses)])
    return Profile(u, cum)


@dataclass(frozen=True, slots=True)
class EWithin:
    """E (as the map shows it, not × ρ) within each distance of the price, per side.

    `long_usd[i]`: E long between price·(1 − distances[i]) and the price; `short_usd[i]`: E short
    between the price and price·(1 + distances[i]). None when it cannot be computed, and then
    `reason` says why (no price yet; no estimated levels yet).
    """

    distances: tuple[float, ...]
    long_usd: tuple[float, ...] | None
    short_usd: tuple[float, ...] | None
    reason: str | None = None

    def total(self, i: int) -> float | None:
        """Both sides within distances[i] (the dense-zone figure), None if not computable."""
        if self.long_usd is None or self.short_usd is None:
            return None
        return self.long_usd[i] + self.short_usd[i]


NO_PRICE = "no price or map for this market yet"
NO_ESTIMATE = "no estimated levels yet (needs open interest)"


def e_within(snap: MarketSnapshot, distances: Sequence[float] = DISTANCES) -> EWithin:
    """E within each distance of the snapshot's price, per side (see `EWithin`)."""
    dist = tuple(float(x) for x in distances)
    grid, price = snap.grid, snap.price
    if grid is None or price is None or not price > 0 or not snap.estimated_long.size:
        return EWithin(dist, None, None, NO_PRICE)
    if not snap.has_estimate:
        return EWithin(dist, None, None, NO_ESTIMATE)
    u = np.asarray(dist, dtype=np.float64)
    sides = [
        tuple(float(v) for v in np.asarray(profile(grid, price, np.asarray(values), side)(u)))
        for side, values in (("long", snap.estimated_long), ("short", snap.estimated_short))
    ]
    return EWithin(dist, sides[0], sides[1])


# -- visible book depth ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DepthFit:
    """D(u) = A·u^κ for one exchange's side of the book, with what the book actually showed."""

    exchange: str
    a: float  # D(u) = a·u^κ
    kappa: float
    fitted: bool  # False: κ is the default (fewer than two usable points)
    reach: float  # how far from mid the visible book reaches (fraction)
    distances: tuple[float, ...]
    measured: tuple[float, ...]  # cumulative USD within each distance (as the book showed)

    def at(self, u: float) -> float:
        """Depth within u: the measured value where the book reaches, else the power law."""
        if u <= self.reach:
            for d, m in zip(self.distances, self.measured, strict=True):
                if abs(d - u) < 1e-12:
                    return m
        return self.a * u**self.kappa

    def visible(self) -> float:
        return max(self.measured, default=0.0)


def fit_depth(
    exchange: str,
    distances: Sequence[float],
    cumulative: Sequence[float],
    reach: float,
    *,
    default_kappa: float = DEFAULT_KAPPA,
) -> DepthFit | None:
    """Fit D(u) = A·u^κ to one side of a book snapshot (log-log least squares).

    Usable points: each distance the book fully covers (d < reach) and the visible total at the
    reach itself. With two or more, κ is fitted (kept within 0.2–5); with one, κ is the default
    and A goes through that point; with none, None.
    """
    d = np.asarray(distances, dtype=np.float64)
    c = np.asarray(cumulative, dtype=np.float64)
    points: list[tuple[float, float]] = [
        (u, v) for u, v in zip(d, c, strict=True) if u < reach and v > 0
    ]
    beyond = c[d >= reach]
    total = float(beyond[0]) if beyond.size else (float(c[-1]) if c.size else 0.0)
    if reach > 0 and total > 0 and (not points or reach > points[-1][0]):
        points.append((float(reach), total))
    if not points:
        return None
    kappa, fitted = default_kappa, False
    if len(points) >= 2:
        lu = np.log([p[0] for p in points])
        lv = np.log([p[1] for p in points])
        if np.ptp(lu) > 0:
            slope, intercept = np.polyfit(lu, lv, 1)
            if math.isfinite(slope) and 0.2 <= slope <= 5.0:
                kappa, fitted = float(slope), True
                a = float(math.exp(intercept))
                return DepthFit(exchange, a, kappa, fitted, reach, tuple(d), tuple(c))
    u_ref, v_ref = points[-1]
    a = v_ref / u_ref**kappa
    return DepthFit(exchange, a, kappa, fitted, reach, tuple(d), tuple(c))


@dataclass(frozen=True, slots=True)
class DepthCurve:
    """Depth of one side summed over exchanges: D(u) = Σ A_e·u^κ_e, and its inverse."""

    fits: tuple[DepthFit, ...]

    def __call__(self, u: float | NDArray[np.float64]) -> float | NDArray[np.float64]:
        uu = np.asarray(u, dtype=np.float64)
        f = self.fits[0]
        out = f.a * uu**f.kappa
        for f in self.fits[1:]:
            out = out + f.a * uu**f.kappa
        return float(out) if np.ndim(out) == 0 else out

    def measured(self, u: float) -> tuple[float, bool]:
        """Depth within u, and whether any exchange's part of it was extrapolated."""
        total, extrapolated = 0.0, False
        for f in self.fits:
            if u <= f.reach:
                total += f.at(u)
            else:
                total += max(f.a * u**f.kappa, f.visible())
                extrapolated = True
        return total, extrapolated

    def inverse(self, v: float | NDArray[np.float64]) -> float | NDArray[np.float64]:
        """The distance u at which D(u) = v (vectorised over v; 0 where v ≤ 0).

        One exchange: (v/A)^(1/κ). Several: Newton on log D against log u, which is convex
        (a log-sum-exp of lines) and increasing, started right of the root at the smallest
        one-exchange inverse (each A_e·u^κ_e ≤ D(u)), so it converges from the right.
        """
        vv = np.asarray(v, dtype=np.float64)
        pos = vv > 0
        safe = np.where(pos, vv, 1.0)
        if len(self.fits) == 1:  # the common case (one fresh book), in closed form
            f = self.fits[0]
            out = np.where(pos, (safe / f.a) ** (1.0 / f.kappa), 0.0)
            return float(out) if out.ndim == 0 else out
        a = np.array([f.a for f in self.fits], dtype=np.float64)[:, None]
        kappa = np.array([f.kappa for f in self.fits], dtype=np.float64)[:, None]
        flat = safe.reshape(1, -1)
        u = ((flat / a) ** (1.0 / kappa)).min(axis=0)
        target = np.log(flat[0])
        for _ in range(60):
            terms = a * u**kappa
            d = terms.sum(axis=0)
            slope = (kappa * terms).sum(axis=0) / d  # d log D / d log u
            step = (np.log(d) - target) / slope
            u = u * np.exp(-step)
            if np.abs(step).max() < 1e-13:
                break
        out = np.where(pos, u.reshape(vv.shape), 0.0)
        return float(out) if out.ndim == 0 else out


def depth_curves(
    depth: Sequence[BookDepth],
    price: float,
    now_ms: int,
    *,
    max_age_ms: int = DEPTH_MAX_AGE_MS,
    default_kappa: float = DEFAULT_KAPPA,
) -> tuple[DepthCurve | None, DepthCurve | None, list[str]]:
    """Bid and ask depth curves from the fresh books whose mid agrees with the price (±1%)."""
    notes: list[str] = []
    bids: list[DepthFit] = []
    asks: list[DepthFit] = []
    for d in depth:
        if now_ms - d.time_ms > max_age_ms:
            notes.append(
                f"{d.exchange} book is {(now_ms - d.time_ms) / 60_000:.0f} min old: left out"
            )
            continue
        if not d.mid > 0 or abs(d.mid / price - 1.0) > 0.01:
            notes.append(f"{d.exchange} book mid disagrees with the price: left out")
            continue
        for store, usd, reach in ((bids, d.bid_usd, d.bid_reach), (asks, d.ask_usd, d.ask_reach)):
            fit = fit_depth(d.exchange, d.distances, usd, reach, default_kappa=default_kappa)
            if fit is not None:
                store.append(fit)
    bid = DepthCurve(tuple(bids)) if bids else None
    ask = DepthCurve(tuple(asks)) if asks else None
    return bid, ask, notes


# -- critical survival and the iterative cascade ------------------------------------------


def w_crit(
    profile_: Profile, depth: DepthCurve, shock: float, *, k: float = W_CRIT_K, rho: float = 1.0
) -> float:
    """min over u in (s, k·s] of ρ·V(u) / (D(u) − D(s)): the depth survival below which shock s
    at least k-folds.

    A cascade under survival W stops at the first u ≥ s where the withdrawn book beyond the
    shock absorbs the forced flow, W·(D(u) − D(s)) ≥ ρ·V(u) (`simulate_cascade`); it therefore
    passes k·s exactly when ρ·V(u)/(D(u) − D(s)) > W all the way. Where nothing is forced
    (V = 0) the ratio is 0: the shock stops where it is, whatever the book. Evaluated on 512
    points and at every knot of V (and just before it), k·s included (V and D are continuous,
    so the infimum over [s, k·s) is the value there).
    """
    grid = np.linspace(shock, k * shock, 513)[1:]
    inside = profile_.u[(profile_.u > shock) & (profile_.u <= k * shock)]
    u = np.concatenate([grid, inside, np.maximum(inside - 1e-12, shock)])
    forced = rho * np.asarray(profile_(u))
    room = np.asarray(depth(u)) - float(depth(shock))
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(forced > 0, np.where(room > 0, forced / room, np.inf), 0.0)
    return float(ratio.min())


def w_level(value: float | None) -> str | None:
    """low (< 0.06: only a withdrawal worse than p10 doubles the shock), elevated, high (> 0.29)."""
    if value is None:
        return None
    if value < W_LOW:
        return "low"
    return "elevated" if value <= W_HIGH else "high"


@dataclass(frozen=True, slots=True)
class CascadeResult:
    stop: float  # distance where price stops (fraction); the map's edge for a runaway
    amplification: float  # stop / shock
    forced_usd: float  # ρ·V(stop): estimated forced notional on the way
    runaway: bool  # reached the edge of the map
    iterations: int


@dataclass(frozen=True, slots=True)
class CascadePaths:
    """`simulate_cascades` for several (shock, survival) pairs at once; arrays of one shape."""

    stop: NDArray[np.float64]
    forced_usd: NDArray[np.float64]
    runaway: NDArray[np.bool_]
    iterations: NDArray[np.int64]


def simulate_cascades(
    profile_: Profile,
    depth: DepthCurve,
    shocks: NDArray[np.float64] | Sequence[float],
    survivals: NDArray[np.float64] | Sequence[float],
    *,
    rho: float = 1.0,
    tol: float = 1e-9,
    max_iter: int = 50,
) -> CascadePaths:
    """The cascade after a shock s under depth survival W, for many (s, W) pairs at once.

    Flow is conserved: the shock's own flow and the forced flow are absorbed by the same book.
    The flow that moved the price by s is what the withdrawn book W·D holds within s, W·D(s);
    the crossed levels then force ρ·V(u) more, and price goes as far as the book absorbs both:

        W·D(u) = W·D(s) + ρ·V(u)   ⇔   u = D⁻¹(D(s) + ρ·V(u)/W)

    iterated from u₀ = s (u_{k+1} = max(u_k, D⁻¹(D(s) + ρ·V(u_k)/W))); V and D only grow, so
    the path climbs to the first fixed point, where it stops (steps ≤ `tol`). Runaway: the
    path reaches the edge of the map (nothing beyond is known); its stop is the edge.

    Near a tangency (forced flow per unit of distance almost equal to the book's) the steps
    shrink geometrically and the iteration can take thousands of steps; a path still moving
    after `max_iter` is finished exactly instead (`_first_fixed_point`): the same first fixed
    point, bracketed between V's knots above where the path has got to and bisected.
    """
    s, w = np.broadcast_arrays(
        np.asarray(shocks, dtype=np.float64), np.asarray(survivals, dtype=np.float64)
    )
    s, w = s.astype(np.float64).ravel(), w.astype(np.float64).ravel()
    if not (np.all(s > 0) and np.all(w > 0)):
        raise ValueError("shock and survival must be positive")
    edge = profile_.edge
    base = np.asarray(depth(s), dtype=np.float64).reshape(s.shape)  # D(s): the shock's flow / W
    u = np.minimum(s, edge)
    runaway = s >= edge
    active = ~runaway
    iterations = np.zeros(s.shape, dtype=np.int64)
    for _ in range(max_iter):  # every path at once (a handful): no per-path indexing
        if not active.any():
            break
        iterations += active
        flow = base + rho * np.asarray(profile_(u)) / w
        nxt = np.maximum(u, np.asarray(depth.inverse(flow)).reshape(u.shape))
        off = active & (nxt >= edge)
        done = off | (active & (nxt - u <= tol))
        u = np.where(off, edge, np.where(active, nxt, u))
        runaway |= off
        active &= ~done
    if active.any():
        idx = np.flatnonzero(active)
        stop, off = _first_fixed_point(profile_, depth, u[idx], base[idx], w[idx], rho, edge)
        u[idx] = stop
        runaway[idx] = off
    shape = np.shape(np.broadcast_arrays(np.asarray(shocks), np.asarray(survivals))[0])
    return CascadePaths(
        stop=u.reshape(shape),
        forced_usd=(rho * np.asarray(profile_(u))).reshape(shape),
        runaway=runaway.reshape(shape),
        iterations=iterations.reshape(shape),
    )


def _first_fixed_point(
    profile_: Profile,
    depth: DepthCurve,
    start: NDArray[np.float64],
    base: NDArray[np.float64],
    survival: NDArray[np.float64],
    rho: float,
    edge: float,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """The first u ≥ `start` where the book absorbs both flows, W·(D(u) − D(s)) ≥ ρ·V(u), for
    paths the iteration left below it (start is below the first fixed point: the iteration
    never passes it). V is linear between its knots (one per grid bin) and D smooth, so the
    first knot where the book catches up brackets the point; 60 bisections place it. Past
    the map's edge: runaway, stopped at the edge."""

    def short(u: NDArray[np.float64]) -> NDArray[np.float64]:  # > 0: the path moves on
        forced = rho * np.asarray(profile_(u))
        return forced - survival[:, None] * (np.asarray(depth(u)) - base[:, None])

    knots = np.concatenate([profile_.u[profile_.u < edge], [edge]])
    points = np.maximum(knots[None, :], start[:, None])  # (path, knot)
    caught = short(points) <= 0
    off: NDArray[np.bool_] = np.asarray(~caught.any(axis=1), dtype=np.bool_)
    first = np.where(off, knots.size - 1, caught.argmax(axis=1))
    rows = np.arange(start.size)
    hi = points[rows, first]
    lo = np.where(first > 0, points[rows, np.maximum(first - 1, 0)], start)
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        moving = short(mid[:, None])[:, 0] > 0
        lo, hi = np.where(moving, mid, lo), np.where(moving, hi, mid)
    return np.asarray(np.where(off, edge, hi), dtype=np.float64), off


def simulate_cascade(
    profile_: Profile,
    depth: DepthCurve,
    shock: float,
    survival: float,
    *,
    rho: float = 1.0,
    tol: float = 1e-9,
    max_iter: int = 50,
) -> CascadeResult:
    """One shock under one survival (`simulate_cascades`: u = D⁻¹(D(s) + ρ·V(u)/W))."""
    paths = simulate_cascades(
        profile_, depth, [shock], [survival], rho=rho, tol=tol, max_iter=max_iter
    )
    stop = float(paths.stop[0])
    return CascadeResult(
        stop=stop,
        amplification=stop / shock,
        forced_usd=float(paths.forced_usd[0]),
        runaway=bool(paths.runaway[0]),
        iterations=int(paths.iterations[0]),
    )


# -- the report ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scenario:
    """What a shock would do under one book-withdrawal regime (a scenario, not a forecast)."""

    side: str  # "long": a fall liquidates longs; "short": a rise liquidates shorts
    shock: float  # signed: −0.02 is a 2% fall
    regime: str  # calm / typical / stressed
    survival: float  # W
    stop: float | None  # signed distance where price stops; None when it runs away
    amplification: float | None
    forced_usd: float  # E (× ρ): estimated forced notional up to the stop (or the map's edge)
    runaway: bool
    iterations: int


@dataclass(frozen=True, slots=True)
class SideRisk:
    side: str
    e_within_usd: dict[float, float]  # E within each distance (`e_within`; not × ρ)
    depth_usd: dict[float, float | None]  # visible book within each distance (None: no book)
    depth_extrapolated: dict[float, bool]
    ratio: dict[float, float | None]  # R_X
    kappa: float | None
    kappa_fitted: bool
    w_crit: dict[float, float | None]  # per shock size
    w_level: dict[float, str | None]
    scenarios: tuple[Scenario, ...]


@dataclass(frozen=True, slots=True)
class Detector:
    """Live cascade detector (R: realized prints and prices), per market."""

    firing: bool
    reasons: tuple[str, ...]
    minute_usd: float  # R in the last complete minute
    baseline_usd: float | None  # median active minute over the days kept
    multiple: float | None  # minute_usd / baseline_usd
    move_15m: float | None
    z_15m: float | None
    active_minutes: int


@dataclass(frozen=True, slots=True)
class RiskReport:
    """Cascade-risk indicators and scenarios of one market: not forecasts (see `disclaimer`)."""

    symbol: str
    as_of_ms: int
    price: float | None
    preset: str
    calibrated: bool  # the map's E has a calibrated ρ (`calibrated_rho`); not applied here
    rho: float  # ρ applied where E meets the book (R_X, W_crit, scenarios)
    scale_label: str  # "relative" or "calibrated ρ=…": how to read E in USD
    long: SideRisk | None  # None: no price, or no estimated levels (see e_within.reason)
    short: SideRisk | None
    e_within: EWithin
    r_x: dict[str, dict[float, float | None]]  # side → distance → R_X
    w_crit: dict[str, float | None]  # side → W_crit at w_crit_shock
    w_crit_shock: float
    scenarios: tuple[Scenario, ...]
    detector: Detector | None
    notes: tuple[str, ...] = ()
    rho_source: str = "default"  # "default" (ρ = 1) or "configured" (model.risk_rho)
    rho_note: str = ""  # which ρ is applied and why, for the panel and the JSON
    calibrated_rho: float | None = None  # liqtui calibrate's ρ (a lower bound), never applied
    disclaimer: str = DISCLAIMER
    distances: tuple[float, ...] = DISTANCES
    labels: dict[str, str] = field(
        default_factory=lambda: {"estimated": "E", "realized": "R", "depth": "order book"}
    )


def calibration(snap: MarketSnapshot) -> tuple[bool, float | None]:
    """(calibrated, ρ): whether `liqtui calibrate` fitted ρ for the snapshot's preset, and ρ
    then (None when E in USD is relative)."""
    return snap.calibrated, snap.scale if snap.calibrated else None


def applied_rho(snap: MarketSnapshot) -> tuple[float, str]:
    """(ρ the risk figures apply, "default" | "configured"): the snapshot's `risk_rho`
    (model.risk_rho), never the calibrated ρ."""
    rho = float(snap.risk_rho)
    return rho, "default" if rho == RHO_DEFAULT else "configured"


def rho_note(rho: float, source: str, calibrated_rho: float | None) -> str:
    """What the panel and the JSON say about ρ: which is applied, where it came from, and that
    a measured one is a lower bound."""
    why = (
        "default: every estimated position is forced"
        if source == "default"
        else "configured: model.risk_rho"
    )
    text = f"ρ = {rho:.3g} applied ({why}); {THROTTLED}"
    if calibrated_rho is not None:
        text += f"; the calibrated ρ = {calibrated_rho:.3g} is not applied"
    return text


def detector(
    stats: ActivityStats | None,
    *,
    multiple_threshold: float = MULTIPLE_THRESHOLD,
    move_threshold: float = MOVE_THRESHOLD,
    z_threshold: float = MOVE_Z,
    min_baseline_minutes: int = MIN_BASELINE_MINUTES,
) -> Detector | None:
    if stats is None:
        return None
    minute = stats.minute_long_usd + stats.minute_short_usd
    reasons: list[str] = []
    multiple = None
    if stats.baseline_usd and stats.baseline_usd > 0:
        multiple = minute / stats.baseline_usd
        if multiple >= multiple_threshold and stats.active_minutes >= min_baseline_minutes:
            side = "longs" if stats.minute_long_usd >= stats.minute_short_usd else "shorts"
            reasons.append(
                f"R {multiple:.0f}× the normal minute ({_usd(minute)} vs median "
                f"{_usd(stats.baseline_usd)}), mostly {side}"
            )
    z = None
    move = stats.move_15m
    if move is not None:
        if stats.sigma_15m:
            z = move / stats.sigma_15m
        if abs(move) >= move_threshold and (z is None or abs(z) >= z_threshold):
            z_text = f"z {z:+.1f}" if z is not None else "z n/a"
            reasons.append(f"price {move * 100:+.1f}% in {MOVE_WINDOW_MIN}m ({z_text})")
    return Detector(
        firing=bool(reasons),
        reasons=tuple(reasons),
        minute_usd=minute,
        baseline_usd=stats.baseline_usd,
        multiple=multiple,
        move_15m=move,
        z_15m=z,
        active_minutes=stats.active_minutes,
    )


def _usd(x: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"${x / size:.1f}{unit}"
    return f"${x:.0f}"


def _ratio(rho: float, e_usd: float, depth_usd: float) -> float | None:
    """R_X = ρ·E within X / visible depth within X (None without depth)."""
    return rho * e_usd / depth_usd if depth_usd > 0 else None


def _side_risk(
    side: str,
    prof: Profile,
    curve: DepthCurve | None,
    *,
    within: tuple[float, ...],
    rho: float,
    distances: Sequence[float],
    shocks: Sequence[float],
    regimes: Sequence[tuple[str, float]],
    k: float,
) -> SideRisk:
    sign = -1.0 if side == "long" else 1.0
    e_usd = dict(zip(distances, within, strict=True))
    depth_usd: dict[float, float | None] = {}
    extrap: dict[float, bool] = {}
    ratio: dict[float, float | None] = {}
    for x in distances:
        if curve is None:
            depth_usd[x], extrap[x], ratio[x] = None, False, None
            continue
        d, e = curve.measured(x)
        depth_usd[x], extrap[x] = d, e
        ratio[x] = _ratio(rho, e_usd[x], d)
    wc: dict[float, float | None] = {
        s: w_crit(prof, curve, s, k=k, rho=rho) if curve is not None else None for s in shocks
    }
    scenarios: list[Scenario] = []
    if curve is not None and shocks and regimes:
        # Every (shock, regime) pair in one vectorised run.
        pairs = [(s, regime, survival) for s in shocks for regime, survival in regimes]
        paths = simulate_cascades(
            prof, curve, [p[0] for p in pairs], [p[2] for p in pairs], rho=rho
        )
        for i, (s, regime, survival) in enumerate(pairs):
            runaway, stop = bool(paths.runaway[i]), float(paths.stop[i])
            scenarios.append(
                Scenario(
                    side=side,
                    shock=sign * s,
                    regime=regime,
                    survival=survival,
                    stop=None if runaway else sign * stop,
                    amplification=None if runaway else stop / s,
                    forced_usd=float(paths.forced_usd[i]),
                    runaway=runaway,
                    iterations=int(paths.iterations[i]),
                )
            )
    fits = curve.fits if curve is not None else ()
    kappa = float(np.mean([f.kappa for f in fits])) if fits else None
    return SideRisk(
        side=side,
        e_within_usd=e_usd,
        depth_usd=depth_usd,
        depth_extrapolated=extrap,
        ratio=ratio,
        kappa=kappa,
        kappa_fitted=any(f.fitted for f in fits),
        w_crit=wc,
        w_level={s: w_level(v) for s, v in wc.items()},
        scenarios=tuple(scenarios),
    )


def risk_report(
    snap: MarketSnapshot,
    *,
    distances: Sequence[float] = DISTANCES,
    shocks: Sequence[float] = SHOCKS,
    regimes: Sequence[tuple[str, float]] = REGIMES,
    w_crit_shock: float = W_CRIT_SHOCK,
    k: float = W_CRIT_K,
    default_kappa: float = DEFAULT_KAPPA,
    depth_max_age_ms: int = DEPTH_MAX_AGE_MS,
) -> RiskReport:
    """Cascade-risk indicators and scenarios for one snapshot (risk, not a forecast)."""
    calibrated, scale = calibration(snap)
    rho, rho_source = applied_rho(snap)
    label = snap.scale_label
    cal_rho = float(scale) if calibrated and scale else None
    about_rho = rho_note(rho, rho_source, cal_rho)
    notes: list[str] = []
    if cal_rho is None:
        notes.append("E is uncalibrated: its USD figures are relative")
    det = detector(snap.activity)
    shocks = tuple(shocks)
    if w_crit_shock not in shocks:
        shocks = (*shocks, w_crit_shock)
    within = e_within(snap, distances)
    grid, price = snap.grid, snap.price
    if within.long_usd is None or within.short_usd is None or grid is None or price is None:
        return RiskReport(
            symbol=snap.symbol, as_of_ms=snap.as_of_ms, price=snap.price, preset=snap.preset,
            calibrated=calibrated, rho=rho, scale_label=label, long=None, short=None,
            e_within=within, r_x={}, w_crit={}, w_crit_shock=w_crit_shock, scenarios=(),
            detector=det, notes=(*notes, within.reason or NO_PRICE), distances=tuple(distances),
            rho_source=rho_source, rho_note=about_rho, calibrated_rho=cal_rho,
        )  # fmt: skip
    bid, ask, depth_notes = depth_curves(
        snap.depth, price, snap.as_of_ms, max_age_ms=depth_max_age_ms, default_kappa=default_kappa
    )
    notes.extend(depth_notes)
    if bid is None and ask is None:
        notes.append("no fresh order-book depth: R_X, W_crit and scenarios need it")
    sides = {}
    for side, values, curve, near in (
        ("long", snap.estimated_long, bid, within.long_usd),
        ("short", snap.estimated_short, ask, within.short_usd),
    ):
        prof = profile(grid, price, np.asarray(values), side)
        sides[side] = _side_risk(
            side, prof, curve, within=near, rho=rho, distances=distances, shocks=shocks,
            regimes=regimes, k=k,
        )  # fmt: skip
    for s in sides.values():
        if any(s.depth_extrapolated.values()):
            notes.append(
                f"{s.side}: depth beyond the visible book extrapolated with A·u^κ "
                f"(κ {s.kappa:.2f}{', fitted' if s.kappa_fitted else ', default'})"
            )
    return RiskReport(
        symbol=snap.symbol,
        as_of_ms=snap.as_of_ms,
        price=price,
        preset=snap.preset,
        calibrated=calibrated,
        rho=rho,
        scale_label=label,
        long=sides["long"],
        short=sides["short"],
        e_within=within,
        r_x={side: dict(s.ratio) for side, s in sides.items()},
        w_crit={side: s.w_crit.get(w_crit_shock) for side, s in sides.items()},
        w_crit_shock=w_crit_shock,
        scenarios=tuple(sc for s in sides.values() for sc in s.scenarios),
        detector=det,
        notes=tuple(notes),
        distances=tuple(distances),
        rho_source=rho_source,
        rho_note=about_rho,
        calibrated_rho=cal_rho,
    )


def r_x(
    snap: MarketSnapshot,
    distances: Sequence[float] = DISTANCES,
    *,
    default_kappa: float = DEFAULT_KAPPA,
    depth_max_age_ms: int = DEPTH_MAX_AGE_MS,
) -> dict[str, dict[float, float | None]]:
    """R_X per side and distance alone: `risk_report(...).r_x` without W_crit and the
    scenarios (the overview computes it for every market). {} without a price or E."""
    rho, _source = applied_rho(snap)
    within = e_within(snap, distances)
    if within.long_usd is None or within.short_usd is None or snap.price is None:
        return {}
    bid, ask, _notes = depth_curves(
        snap.depth,
        snap.price,
        snap.as_of_ms,
        max_age_ms=depth_max_age_ms,
        default_kappa=default_kappa,
    )
    out: dict[str, dict[float, float | None]] = {}
    for side, curve, near in (("long", bid, within.long_usd), ("short", ask, within.short_usd)):
        out[side] = {
            x: None if curve is None else _ratio(rho, e, curve.measured(x)[0])
            for x, e in zip(distances, near, strict=True)
        }
    return out
