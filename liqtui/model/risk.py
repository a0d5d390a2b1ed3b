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
- W_crit(s, k) = min over u in [s, k·s) of ρ·V(u) / D(u): a shock s at least k-folds (k = 2) when
  the book keeps less than W_crit of its depth (models.md §3.3 item 2); < 0.06 low, 0.06–0.29
  elevated, > 0.29 high (a typical withdrawal is enough);
- the iterative cascade (item 3) for shocks of 1, 2 and 5% under depth survival W = 1, 0.29, 0.06
  (calm / typical / stressed): u₀ = s, u_{k+1} = max(u_k, D⁻¹(ρ·V(u_k)/W)) until it stops, or it
  reaches the edge of the map (runaway);
- a live cascade detector: realized notional in the last minute against the median active minute
  of the last 7 days, and a price move of at least 300 bp in 15 minutes that is also ≥ 3 σ of
  the 15-minute moves of the last 7 days (the absolute threshold keeps z-scores from firing on
  quiet-market noise).

ρ is the snapshot's calibrated scale; an uncalibrated map uses ρ = 1 and its USD figures are
relative, which the report's notes say.
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
        out = sum(f.a * uu**f.kappa for f in self.fits)
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

    def inverse(self, v: float) -> float:
        """The distance u at which D(u) = v."""
        if v <= 0:
            return 0.0
        if len(self.fits) == 1:
            f = self.fits[0]
            return (v / f.a) ** (1.0 / f.kappa)
        lo, hi = 1e-9, 1.0
        while self(hi) < v and hi < 1e6:
            hi *= 2.0
        for _ in range(100):  # bisection in log space
            mid = math.sqrt(lo * hi)
            if self(mid) < v:
                lo = mid
            else:
                hi = mid
        return hi


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
    """min over u in [s, k·s) of ρ·V(u)/D(u): the depth survival below which shock s k-folds."""
    grid = np.linspace(shock, k * shock, 512, endpoint=False)
    inside = profile_.u[(profile_.u >= shock) & (profile_.u < k * shock)]
    u = np.concatenate([grid, inside, np.maximum(inside - 1e-12, shock)])
    ratio = rho * np.asarray(profile_(u)) / np.asarray(depth(u))
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


def simulate_cascade(
    profile_: Profile,
    depth: DepthCurve,
    shock: float,
    survival: float,
    *,
    rho: float = 1.0,
    tol: float = 1e-9,
    max_iter: int = 10_000,
) -> CascadeResult:
    """models.md §3.3 item 3: u₀ = s; u_{k+1} = max(u_k, D⁻¹(ρ·V(u_k)/W)) until it stops.

    D(u) = W·A·u^κ is the book after withdrawal; the forced flow V is what the crossed levels
    liquidate. Runaway: the path reaches the edge of the map (nothing beyond is known).
    """
    if not shock > 0 or not survival > 0:
        raise ValueError("shock and survival must be positive")
    edge = profile_.edge
    u = min(shock, edge)
    runaway = shock >= edge
    it = 0
    while not runaway and it < max_iter:
        it += 1
        forced = rho * float(profile_(u))
        nxt = max(u, depth.inverse(forced / survival))
        if nxt >= edge:
            u, runaway = edge, True
            break
        if nxt - u <= tol:
            break
        u = nxt
    return CascadeResult(
        stop=u,
        amplification=u / shock,
        forced_usd=rho * float(profile_(u)),
        runaway=runaway,
        iterations=it,
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
    calibrated: bool
    rho: float  # the scale applied to E (1.0 when uncalibrated: figures are relative)
    scale_label: str  # "relative" or "calibrated ρ=…"
    long: SideRisk | None  # None: no price, or no estimated levels (see e_within.reason)
    short: SideRisk | None
    e_within: EWithin
    r_x: dict[str, dict[float, float | None]]  # side → distance → R_X
    w_crit: dict[str, float | None]  # side → W_crit at w_crit_shock
    w_crit_shock: float
    scenarios: tuple[Scenario, ...]
    detector: Detector | None
    notes: tuple[str, ...] = ()
    disclaimer: str = DISCLAIMER
    distances: tuple[float, ...] = DISTANCES
    labels: dict[str, str] = field(
        default_factory=lambda: {"estimated": "E", "realized": "R", "depth": "order book"}
    )


def calibration(snap: MarketSnapshot) -> tuple[bool, float | None]:
    """(calibrated, ρ): whether `liqtui calibrate` fitted ρ for the snapshot's preset, and ρ
    then (None when E in USD is relative)."""
    return snap.calibrated, snap.scale if snap.calibrated else None


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
    wc: dict[float, float | None] = {}
    scenarios: list[Scenario] = []
    for s in shocks:
        wc[s] = w_crit(prof, curve, s, k=k, rho=rho) if curve is not None else None
        if curve is None:
            continue
        for regime, survival in regimes:
            r = simulate_cascade(prof, curve, s, survival, rho=rho)
            scenarios.append(
                Scenario(
                    side=side,
                    shock=sign * s,
                    regime=regime,
                    survival=survival,
                    stop=None if r.runaway else sign * r.stop,
                    amplification=None if r.runaway else r.amplification,
                    forced_usd=r.forced_usd,
                    runaway=r.runaway,
                    iterations=r.iterations,
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
    rho = float(scale) if calibrated and scale else 1.0
    label = snap.scale_label
    notes: list[str] = []
    if not (calibrated and scale):
        notes.append("E is uncalibrated: ρ = 1 assumed, USD figures are relative")
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
    calibrated, scale = calibration(snap)
    rho = float(scale) if calibrated and scale else 1.0
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
