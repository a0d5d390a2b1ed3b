"""What the cascade-risk panel shows: the risk model's report (`liqtui.model.risk.risk_report`)
for one snapshot, plus the realized notional of the last minute the app measures.

Every figure comes from the model, so the panel, the alerts and `liqtui snapshot` agree: "E
within X%" is `liqtui.model.risk.e_within`, nothing here recomputes it. Everything is an
indicator or a scenario, not a forecast.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from liqtui.model.engine import MarketSnapshot
from liqtui.model.risk import DISTANCES, RiskReport, Scenario, risk_report

BANDS = DISTANCES


@dataclass(frozen=True, slots=True)
class RiskView:
    symbol: str
    price: float | None
    cum_long: tuple[float, ...] | None  # E within each band below the price (None: see note)
    cum_short: tuple[float, ...] | None  # E within each band above
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
    within_reason: str | None = None  # why cum_long / cum_short are None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def firing(self) -> bool:
        return self.detector_state == "firing"


def risk_view(snap: MarketSnapshot, *, realized_last_min_usd: float = 0.0) -> RiskView:
    """Everything the panel shows for one snapshot."""
    return view_of(risk_report(snap, distances=BANDS), realized_last_min_usd)


def view_of(report: RiskReport, realized_last_min_usd: float = 0.0) -> RiskView:
    """The panel's fields from a risk report."""
    ew = report.e_within
    det = report.detector
    r_x = {side: tuple(per.get(x) for x in BANDS) for side, per in report.r_x.items() if per}
    return RiskView(
        symbol=report.symbol,
        price=report.price,
        cum_long=ew.long_usd,
        cum_short=ew.short_usd,
        r_long=r_x.get("long"),
        r_short=r_x.get("short"),
        w_crit_long=report.w_crit.get("long"),
        w_crit_short=report.w_crit.get("short"),
        w_crit_shock=report.w_crit_shock,
        scenarios=report.scenarios,
        detector_state="firing" if det is not None and det.firing else "quiet",
        detector_reasons=det.reasons if det is not None else (),
        realized_last_min_usd=realized_last_min_usd,
        move_15m=det.move_15m if det is not None else None,
        calibrated=report.calibrated,
        scale=report.rho if report.calibrated else None,
        within_reason=ew.reason,
        notes=report.notes,
    )
