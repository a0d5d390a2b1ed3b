"""The cascade-risk panel: cumulative E near the price, R_X, W_crit, scenarios, the detector.

A Line API text panel (`TextLines`): each line is fitted to the width and only changed lines
are redrawn. The wording says what these are: indicators and scenarios, not forecasts.
"""

from __future__ import annotations

from liqtui.ladder import LONG_MARK, SHORT_MARK, compact_usd
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.model.risk import Scenario
from liqtui.ui.risk import BANDS, RiskView, risk_view
from liqtui.ui.widgets.status import Part, Seg, TextLines

W_TYPICAL, W_STRESSED = 0.29, 0.06
CELL = 22  # a scenario cell: stops at, amplification, forced E


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


def _w_role(w: float | None) -> str:
    if w is None:
        return "muted"
    if w < W_STRESSED:
        return "good"
    if w <= W_TYPICAL:
        return "amber"
    return "bad"


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
    lines.append(_row("E within", "label", [_pct(b) for b in BANDS]))

    def usd(values: tuple[float, ...] | None) -> list[str]:
        return ["—"] * len(BANDS) if values is None else [compact_usd(v) for v in values]

    lines.append(_row(f"{LONG_MARK} longs", "long", usd(view.cum_long)))
    lines.append(_row(f"{SHORT_MARK} shorts", "short", usd(view.cum_short)))
    has_depth = any(v is not None for v in (*(view.r_long or ()), *(view.r_short or ())))
    if has_depth:

        def fmt(vals: tuple[float | None, ...] | None) -> list[str]:
            return ["—" if v is None else f"{v:.3g}" for v in (vals or (None,) * len(BANDS))]

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
        shock = f" (shock {_pct(view.w_crit_shock)})" if view.w_crit_shock else ""
        segs: list[Seg] = [(f"W_crit{shock} ", "label")]
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
        by_shock: dict[float, dict[str, Scenario]] = {}
        for sc in view.scenarios:
            by_shock.setdefault(sc.shock, {})[sc.regime] = sc
        regimes = list(dict.fromkeys(sc.regime for sc in view.scenarios))
        for shock, cells in by_shock.items():
            segs: list[Seg] = [
                (f"{shock * 100:+.1f}%".ljust(7), "short" if shock > 0 else "long"),
            ]
            for regime in regimes:
                sc = cells.get(regime)
                if sc is None:
                    segs.append((" " * CELL, "empty"))
                elif sc.runaway or sc.stop is None:
                    segs.append((f"{'RUNAWAY':>7}{'':>6} {compact_usd(sc.forced_usd):>6}  ", "bad"))
                else:
                    amp = f"×{sc.amplification:.1f}" if sc.amplification is not None else ""
                    role = "amber" if (sc.amplification or 1.0) >= 1.5 else "text"
                    cell = f"{sc.stop * 100:+6.1f}%{amp:>6} {compact_usd(sc.forced_usd):>6}  "
                    segs.append((cell, role))
            lines.append([Part(tuple(segs), 8)])
    if view.calibrated is not None or view.scale is not None:
        cal = "calibrated" if view.calibrated else "uncalibrated (relative)"
        rho = f" ρ={view.scale:.3g}" if view.scale is not None else ""
        lines.append([Part.of(f"map {cal}{rho}", "muted", 5)])
    for note in view.notes:
        if note != view.within_reason:  # already said on the R_X line
            lines.append([Part.of(note, "warning", 5)])
    return lines


class CascadePanel(TextLines):
    """The cascade-risk view: as many lines as it is tall."""

    def __init__(self, *, name: str | None = None, id: str | None = None) -> None:
        super().__init__(64, name=name, id=id)
        self.view: RiskView | None = None

    def show(self, view: RiskView | None) -> None:
        self.view = view
        self.set_lines(cascade_lines(view))
