"""The cascade-risk panel: cumulative E near the price, R_X, W_crit, scenarios, the detector.

What it shows is the risk model's report (`liqtui.model.risk.risk_report`) for one snapshot,
plus the realized notional of the last minute the app measures. Every figure comes from the
model, so the panel, the alerts and `liqtui snapshot` agree: "E within X%" is
`liqtui.model.risk.e_within`, nothing here recomputes it.

A Line API text panel (`TextLines`): each line is fitted to the width and only changed lines
are redrawn. The wording says what these are: indicators and scenarios, not forecasts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.model.risk import DISTANCES, RiskReport, Scenario, risk_report, w_level
from liqtui.output.ladder import LONG_MARK, SHORT_MARK, compact_usd
from liqtui.output.render import LOW_CONFIDENCE, history_text, hours_text
from liqtui.ui.widgets.status import Part, Seg, TextLines

CELL = 22  # a scenario cell: stops at, amplification, forced E


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
    scale: float | None = None  # the calibrated ρ (a lower bound): shown, never applied
    rho: float = 1.0  # ρ applied to E in R_X, W_crit and the scenarios
    rho_source: str = "default"  # "default" (1: every position forced) or "configured"
    within_reason: str | None = None  # why cum_long / cum_short are None
    history: str = ""  # how much history the map holds, per exchange, and its confidence
    history_short: str = ""  # the same without the exchanges (narrow panels)
    half_life_ms: int = 0
    confidence: float | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def firing(self) -> bool:
        return self.detector_state == "firing"


def risk_view(snap: MarketSnapshot, *, realized_last_min_usd: float = 0.0) -> RiskView:
    """Everything the panel shows for one snapshot."""
    spans = " · ".join(f"{ex} {hours_text(ms)}" for ex, ms in snap.oi_history_ms.items())
    return view_of(
        risk_report(snap, distances=DISTANCES),
        realized_last_min_usd,
        history=f"{spans or '0 h'} · confidence {snap.confidence:.0%}",
        history_short=history_text(snap).removeprefix("map history "),
        confidence=snap.confidence,
        half_life_ms=snap.half_life_ms,
    )


def view_of(
    report: RiskReport,
    realized_last_min_usd: float = 0.0,
    *,
    history: str = "",
    history_short: str = "",
    confidence: float | None = None,
    half_life_ms: int = 0,
) -> RiskView:
    """The panel's fields from a risk report (and the map's history, said beside them)."""
    ew = report.e_within
    det = report.detector
    r_x = {side: tuple(per.get(x) for x in DISTANCES) for side, per in report.r_x.items() if per}
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
        scale=report.calibrated_rho,
        rho=report.rho,
        rho_source=report.rho_source,
        within_reason=ew.reason,
        notes=report.notes,
        history=history,
        history_short=history_short,
        confidence=confidence,
        half_life_ms=half_life_ms,
    )


# -- the panel's lines ------------------------------------------------------------------------


def cascade_view(engine: Engine, snap: MarketSnapshot, *, exchange: str | None) -> RiskView:
    """What the panel shows for `snap`, with R of the last minute (of `exchange`, or all)."""
    last_min = engine.snapshot(snap.symbol, window_ms=60_000, exchange=exchange)
    return risk_view(
        snap, realized_last_min_usd=last_min.realized_long_usd + last_min.realized_short_usd
    )


def scenario_header(view: RiskView) -> list[list[Part]]:
    regimes = list(dict.fromkeys(sc.regime for sc in view.scenarios))
    names: list[Seg] = [("if a   ", "label")]
    cols: list[Seg] = [("shock  ", "label")]
    for regime in regimes:
        names.append((f"{regime + ' book':^{CELL - 2}}  ", "text"))
        cols.append((f"{'stop':>7}{'×ampl':>6} {'forced':>6}  ", "label"))
    return [[Part(tuple(names), 9)], [Part(tuple(cols), 9)]]


def _pct(x: float) -> str:
    return f"{x * 100:g}%"


_W_ROLES = {"low": "good", "elevated": "amber", "high": "bad"}


def _w_role(w: float | None) -> str:
    """W_crit's color by its level (`liqtui.model.risk.w_level`)."""
    return _W_ROLES.get(w_level(w) or "", "muted")


def _row(label: str, role: str, values: list[str], width: int = 8) -> list[Part]:
    segs: list[Seg] = [(f"{label:<12}", role)]
    segs.extend((f"{v:>{width}}", "text") for v in values)
    return [Part(tuple(segs), 10)]


def cascade_lines(view: RiskView | None) -> list[list[Part]]:
    if view is None:
        return [[Part.of("waiting for data…", "message", 10)]]
    lines: list[list[Part]] = []
    title: list[Part] = [
        Part.of(f"Cascade risk {view.symbol}", "heading", 10),
        Part.of("indicators and scenarios, not forecasts", "muted", 3, short="not a forecast"),
    ]
    lines.append(title)
    if view.price is None:
        lines.append([Part.of(f"waiting for data for {view.symbol}…", "message", 10)])
        return lines
    lines.append(_row("E within", "label", [_pct(b) for b in DISTANCES]))

    def usd(values: tuple[float, ...] | None) -> list[str]:
        return ["—"] * len(DISTANCES) if values is None else [compact_usd(v) for v in values]

    lines.append(_row(f"{LONG_MARK} longs", "long", usd(view.cum_long)))
    lines.append(_row(f"{SHORT_MARK} shorts", "short", usd(view.cum_short)))
    has_depth = any(v is not None for v in (*(view.r_long or ()), *(view.r_short or ())))
    if has_depth:

        def fmt(vals: tuple[float | None, ...] | None) -> list[str]:
            return ["—" if v is None else f"{v:.3g}" for v in (vals or (None,) * len(DISTANCES))]

        lines.append(_row(f"R_X {LONG_MARK} bid", "long", fmt(view.r_long)))
        lines.append(_row(f"R_X {SHORT_MARK} ask", "short", fmt(view.r_short)))
    else:
        missing = view.within_reason or "no order-book depth yet"
        lines.append(
            [
                Part.of(
                    f"R_X, W_crit, scenarios: {missing}",
                    "muted",
                    6,
                    short="R_X/W_crit: no E" if view.within_reason else "R_X/W_crit: no depth",
                )
            ]
        )
    if view.w_crit_long is not None or view.w_crit_short is not None:
        at = f" (shock {_pct(view.w_crit_shock)})" if view.w_crit_shock else ""
        segs: list[Seg] = [(f"W_crit{at} ", "label")]
        for mark, w in ((LONG_MARK, view.w_crit_long), (SHORT_MARK, view.w_crit_short)):
            segs.append((f"{mark}", "long" if mark == LONG_MARK else "short"))
            segs.append((("—" if w is None else f"{w:.3f}") + " ", _w_role(w)))
        segs.append(("(<0.06 low; >0.29: a typical book thinning doubles the shock)", "muted"))
        lines.append([Part(tuple(segs), 8)])
    det: list[Seg] = [("detector ", "label")]
    if view.firing:
        det.append((" FIRING ", "stale-badge"))
        det.append((" " + "; ".join(view.detector_reasons), "warning"))
    else:
        det.append(("quiet", "ok"))
    det.append((f"  R last min {compact_usd(view.realized_last_min_usd)}", "realized"))
    if view.move_15m is not None:
        det.append((f"  move 15m {view.move_15m * 100:+.2f}%", "muted"))
    lines.append([Part(tuple(det), 9)])
    if view.scenarios:
        lines.extend(scenario_header(view))
        lines.extend(scenario_lines(view.scenarios))
    lines.append(rho_line(view))
    if view.history:
        low = view.confidence is not None and view.confidence < LOW_CONFIDENCE
        role = "warning" if low else "muted"
        lines.append(
            [
                Part.of("map history", "label", 10),
                Part.of(view.history, role, 6, short=view.history_short or None),
                Part.of(f"(half-life {hours_text(view.half_life_ms)})", "muted", 3),
            ]
        )
    if view.calibrated is not None or view.scale is not None:
        cal = "calibrated" if view.calibrated else "uncalibrated (relative)"
        rho = f" ρ={view.scale:.3g} (lower bound, not applied)" if view.scale is not None else ""
        lines.append([Part.of(f"map {cal}{rho}", "muted", 5)])
    for note in view.notes:
        if note != view.within_reason:  # already said on the R_X line
            lines.append([Part.of(note, "warning", 5)])
    return lines


def rho_line(view: RiskView) -> list[Part]:
    """Which ρ the figures apply, and that a measured one is a lower bound."""
    why = "default: every position forced" if view.rho_source == "default" else "configured"
    return [
        Part.of(f"ρ {view.rho:.3g} applied ({why})", "text", 7, short=f"ρ {view.rho:.3g}"),
        Part.of(
            "ρ measured on throttled feeds (Binance, OKX) is a lower bound",
            "muted",
            4,
            short="measured ρ: lower bound",
        ),
    ]


def scenario_lines(scenarios: tuple[Scenario, ...]) -> list[list[Part]]:
    """One line per shock: where the price stops, the amplification and the forced E under
    each book regime (RUNAWAY when the cascade reaches the map's edge)."""
    by_shock: dict[float, dict[str, Scenario]] = {}
    for sc in scenarios:
        by_shock.setdefault(sc.shock, {})[sc.regime] = sc
    regimes = list(dict.fromkeys(sc.regime for sc in scenarios))
    lines: list[list[Part]] = []
    for shock, cells in by_shock.items():
        segs: list[Seg] = [
            (f"{shock * 100:+.1f}%".ljust(7), "short" if shock > 0 else "long"),
        ]
        for regime in regimes:
            cell = cells.get(regime)
            if cell is None:
                segs.append((" " * CELL, "empty"))
            elif cell.runaway or cell.stop is None:
                segs.append((f"{'RUNAWAY':>7}{'':>6} {compact_usd(cell.forced_usd):>6}  ", "bad"))
            else:
                amp = f"×{cell.amplification:.1f}" if cell.amplification is not None else ""
                role = "amber" if (cell.amplification or 1.0) >= 1.5 else "text"
                forced = compact_usd(cell.forced_usd)
                segs.append((f"{cell.stop * 100:+6.1f}%{amp:>6} {forced:>6}  ", role))
        lines.append([Part(tuple(segs), 8)])
    return lines


class CascadePanel(TextLines):
    """The cascade-risk view: as many lines as it is tall."""

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(64, name=name, id=id)
        self.view: RiskView | None = None

    def show(self, view: RiskView | None) -> None:
        self.view = view
        self.set_lines(cascade_lines(view))
