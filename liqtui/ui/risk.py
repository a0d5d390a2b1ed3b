"""What the cascade-risk panel shows, gathered from a snapshot (and the risk model when present).

The figures that need only the map are computed here: cumulative estimated liquidations within
0.5/1/2/5% of the price per side, and a simple live cascade detector (a price move of at least
3% within 15 minutes, an absolute threshold; realized notional in the last minute). R_X, W_crit
and the scenario table need the order book and the risk model (`liqtui.model.risk`): when that
module is installed its `risk_report(snapshot)` is read through `adapt_report` below, otherwise the
panel says what is missing. Everything here is an indicator or a scenario, not a forecast.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from liqtui.model.engine import MarketSnapshot

BANDS = (0.005, 0.01, 0.02, 0.05)
MOVE_WINDOW_MS = 15 * 60_000
MOVE_ALERT = 0.03  # 300 bp in 15 minutes


@dataclass(frozen=True, slots=True)
class Scenario:
    side: str  # "long": a fall liquidates longs; "short": a rise liquidates shorts
    shock: float  # signed fraction, e.g. -0.02
    regime: str  # calm / typical / stressed
    stop: float | None  # where price stops (signed fraction), None: runaway
    amplification: float | None
    forced_usd: float
    runaway: bool


@dataclass(frozen=True, slots=True)
class RiskView:
    symbol: str
    price: float | None
    cum_long: tuple[float, ...]  # E within each band below the price
    cum_short: tuple[float, ...]  # E within each band above
    r_long: tuple[float | None, ...] | None = None  # R_X per band (None: no depth)
    r_short: tuple[float | None, ...] | None = None
    w_crit_long: float | None = None
    w_crit_short: float | None = None
    w_crit_shock: float | None = None
    scenarios: tuple[Scenario, ...] = ()
    detector_state: str = "quiet"  # quiet / firing
    detector_reasons: tuple[str, ...] = ()
    realized_last_min_usd: float = 0.0
    move_15m: float | None = None
    calibrated: bool | None = None
    scale: float | None = None
    model_available: bool = False
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def firing(self) -> bool:
        return self.detector_state == "firing"


def cumulative_bands(
    snap: MarketSnapshot, bands: Sequence[float] = BANDS
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    grid, price = snap.grid, snap.price
    if grid is None or price is None or not snap.estimated_long.size:
        zero = tuple(0.0 for _ in bands)
        return zero, zero
    centres = grid.origin + (np.arange(grid.n_bins) + 0.5) * grid.width
    longs, shorts = [], []
    for x in bands:
        below = (centres >= price * (1 - x)) & (centres < price)
        above = (centres > price) & (centres <= price * (1 + x))
        longs.append(float(snap.estimated_long[below].sum()))
        shorts.append(float(snap.estimated_short[above].sum()))
    return tuple(longs), tuple(shorts)


def price_move(prices: Sequence[tuple[int, float]], now_ms: int) -> float | None:
    """Largest move from any price in the last 15 minutes to the latest one (signed)."""
    recent = [p for t, p in prices if now_ms - t <= MOVE_WINDOW_MS and p > 0]
    if len(recent) < 2:
        return None
    last = recent[-1]
    moves = [last / p - 1.0 for p in recent[:-1]]
    return max(moves, key=abs)


def _load_risk_report() -> Callable[[MarketSnapshot], Any] | None:
    try:
        module = importlib.import_module("liqtui.model.risk")
    except ImportError:
        return None
    fn = getattr(module, "risk_report", None)
    return fn if callable(fn) else None


_RISK_REPORT = _load_risk_report()


def _opt_float(x: object) -> float | None:
    try:
        return None if x is None else float(x)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def risk_view(
    snap: MarketSnapshot,
    *,
    prices: Sequence[tuple[int, float]] = (),
    realized_last_min_usd: float = 0.0,
    risk_report: Callable[[MarketSnapshot], Any] | None = None,
) -> RiskView:
    """Everything the panel shows for one snapshot. `prices`: (time, price) samples, oldest
    first (for the 15-minute move); `risk_report`: the risk model's function (default: the
    installed `liqtui.model.risk.risk_report`, if any)."""
    cum_long, cum_short = cumulative_bands(snap)
    move = price_move(prices, snap.as_of_ms)
    reasons = []
    if move is not None and abs(move) >= MOVE_ALERT:
        reasons.append(f"price {move * 100:+.1f}% in 15m")
    base = RiskView(
        symbol=snap.symbol,
        price=snap.price,
        cum_long=cum_long,
        cum_short=cum_short,
        detector_state="firing" if reasons else "quiet",
        detector_reasons=tuple(reasons),
        realized_last_min_usd=realized_last_min_usd,
        move_15m=move,
        calibrated=getattr(snap, "calibrated", None),
        scale=_opt_float(getattr(snap, "scale", None)),
    )
    fn = risk_report if risk_report is not None else _RISK_REPORT
    if fn is None or snap.price is None:
        return base
    try:
        report = fn(snap)
    except Exception as exc:  # the panel must not take the app down
        return _replace(base, notes=(f"risk model error: {type(exc).__name__}: {exc}",))
    return _merge(base, report)


def _replace(view: RiskView, **changes: Any) -> RiskView:
    import dataclasses

    return dataclasses.replace(view, **changes)


def _merge(base: RiskView, report: Any) -> RiskView:
    """Read the risk model's report (duck-typed: liqtui.model.risk.RiskReport)."""
    return _replace(base, model_available=True, **adapt_report(report))


def adapt_report(report: Any) -> dict[str, Any]:
    """RiskView fields from a risk report. The report's shape is read defensively so a field
    the model does not have yet simply stays empty."""
    out: dict[str, Any] = {}
    r_x = getattr(report, "r_x", None)
    if isinstance(r_x, dict):
        for side, key in (("long", "r_long"), ("short", "r_short")):
            per = r_x.get(side)
            if isinstance(per, dict):
                out[key] = tuple(_opt_float(per.get(x)) for x in BANDS)
    wc = getattr(report, "w_crit", None)
    if isinstance(wc, dict):
        out["w_crit_long"] = _opt_float(wc.get("long"))
        out["w_crit_short"] = _opt_float(wc.get("short"))
    out["w_crit_shock"] = _opt_float(getattr(report, "w_crit_shock", None))
    scen = getattr(report, "scenarios", None) or ()
    scenarios = []
    for s in scen:
        scenarios.append(
            Scenario(
                side=str(getattr(s, "side", "")),
                shock=float(getattr(s, "shock", 0.0)),
                regime=str(getattr(s, "regime", "")),
                stop=_opt_float(getattr(s, "stop", None)),
                amplification=_opt_float(getattr(s, "amplification", None)),
                forced_usd=float(getattr(s, "forced_usd", 0.0) or 0.0),
                runaway=bool(getattr(s, "runaway", False)),
            )
        )
    out["scenarios"] = tuple(scenarios)
    det = getattr(report, "detector", None)
    if det is not None:
        firing = bool(getattr(det, "firing", False))
        reasons = tuple(str(r) for r in (getattr(det, "reasons", ()) or ()))
        out["detector_state"] = "firing" if firing else "quiet"
        out["detector_reasons"] = reasons
        move = _opt_float(getattr(det, "move_15m", None))
        if move is not None:
            out["move_15m"] = move
    notes = getattr(report, "notes", None)
    if notes:
        out["notes"] = tuple(str(n) for n in notes)
    return out
