"""Cascade-risk indicators and scenarios (liqtui.model.risk) on hand-built maps and books."""

from __future__ import annotations

import math

import numpy as np
import pytest

from liqtui.events import BookDepth, Liquidation, MarkPrice, OpenInterest
from liqtui.model.density import ModelParams
from liqtui.model.engine import Engine, MarketSnapshot
from liqtui.model.grid import PriceGrid
from liqtui.model.history import ActivityStats
from liqtui.model.risk import (
    DEFAULT_KAPPA,
    DISCLAIMER,
    NO_ESTIMATE,
    NO_PRICE,
    DepthCurve,
    DepthFit,
    detector,
    e_within,
    fit_depth,
    profile,
    risk_report,
    simulate_cascade,
    simulate_cascades,
    w_crit,
    w_level,
)

T0 = 1_767_225_600_000
MIN = 60_000
D4 = (0.005, 0.01, 0.02, 0.05)


def power_law(a: float, kappa: float) -> DepthCurve:
    return DepthCurve((DepthFit("x", a, kappa, True, 1.0, (), ()),))


@pytest.fixture
def hand_map() -> tuple[PriceGrid, np.ndarray]:
    """Price 100,000, $50 bins: $15M of longs in [98,950, 99,000) (1.00–1.05% below) and $10M
    in [98,400, 98,450) (1.55–1.60% below)."""
    grid = PriceGrid(origin=50_000.0, width=50.0, n_bins=2_000)
    longs = np.zeros(grid.n_bins)
    longs[grid.index_of(98_950)] = 15e6
    longs[grid.index_of(98_400)] = 10e6
    return grid, longs


def test_cumulative_profile_splits_the_bin_at_the_price() -> None:
    grid = PriceGrid(origin=50_000.0, width=50.0, n_bins=2_000)
    longs = np.zeros(grid.n_bins)
    longs[grid.index_of(100_000)] = 100.0  # the bin holding the price (100,025): half below it
    longs[grid.index_of(99_950)] = 200.0
    prof = profile(grid, 100_025.0, longs, "long")
    assert prof(0.0) == 0.0
    assert prof(1 - 100_000 / 100_025) == pytest.approx(50.0)
    assert prof(1 - 99_950 / 100_025) == pytest.approx(250.0)
    u0, u1 = 1 - 100_000 / 100_025, 1 - 99_950 / 100_025
    assert prof(0.0005) == pytest.approx(50 + 200 * (0.0005 - u0) / (u1 - u0))
    assert prof.total == pytest.approx(250.0) and prof.edge == pytest.approx(1 - 50_000 / 100_025)
    shorts = np.zeros(grid.n_bins)
    shorts[grid.index_of(100_000)] = 100.0
    assert profile(grid, 100_025.0, shorts, "short")(0.01) == pytest.approx(50.0)


def test_cascade_stops_where_the_hand_computation_says(hand_map) -> None:  # type: ignore[no-untyped-def]
    """docs/model.md's worked example (issue 13): flow is conserved, so the shock's own flow
    D(s) and the forced flow ρ·V(u) are absorbed together: u = D⁻¹(D(s) + ρ·V(u)/W)."""
    grid, longs = hand_map
    prof = profile(grid, 100_000.0, longs, "long")
    book = power_law(1e9, 1.0)  # D(u) = $1B·u with u a fraction: $10M within 1%
    # A 1.2% fall: $12M of flow, plus the $15M cluster it crossed: $27M needs 2.7%, which
    # crosses the $10M cluster: $37M needs 3.7%, and nothing more lies before it.
    calm = simulate_cascade(prof, book, 0.012, 1.0)
    assert calm.stop == pytest.approx(0.037) and not calm.runaway
    assert calm.amplification == pytest.approx(0.037 / 0.012)
    assert calm.forced_usd == pytest.approx(25e6)
    # A 2% fall crosses both levels: $20M + $25M → 4.5%.
    two = simulate_cascade(prof, book, 0.02, 1.0)
    assert two.stop == pytest.approx(0.045) and two.forced_usd == pytest.approx(25e6)
    # Half the book: the forced flow counts double: $12M + $30M → 4.2%, $12M + $50M → 6.2%.
    half = simulate_cascade(prof, book, 0.012, 0.5)
    assert half.stop == pytest.approx(0.062) and half.forced_usd == pytest.approx(25e6)
    # A book thinned 1000×: the path runs off the map.
    thin = simulate_cascade(prof, book, 0.012, 0.001)
    assert thin.runaway and thin.stop == pytest.approx(prof.edge)
    # ρ scales the forced flow: ρ = 0.5 is the same as twice the book.
    assert simulate_cascade(prof, book, 0.012, 0.5, rho=0.5).stop == pytest.approx(0.037)
    # Past every level, a shock forces nothing more than what it crossed: 5% + $25M → 7.5%.
    assert simulate_cascade(prof, book, 0.05, 1.0).stop == pytest.approx(0.075)
    # A shock short of the first level forces nothing and stops where it is.
    quiet = simulate_cascade(prof, book, 0.005, 0.06)
    assert quiet.stop == pytest.approx(0.005) and quiet.forced_usd == 0.0


def test_cascade_is_symmetric_for_shorts_and_a_rise() -> None:
    grid = PriceGrid(origin=50_000.0, width=50.0, n_bins=2_000)
    shorts = np.zeros(grid.n_bins)
    shorts[grid.index_of(101_000)] = 15e6  # 1.00–1.05% above
    shorts[grid.index_of(101_550)] = 10e6  # 1.55–1.60% above
    prof = profile(grid, 100_000.0, shorts, "short")
    book = power_law(1e9, 1.0)
    assert simulate_cascade(prof, book, 0.012, 1.0).stop == pytest.approx(0.037)
    assert simulate_cascade(prof, book, 0.02, 1.0).stop == pytest.approx(0.045)
    assert w_crit(prof, book, 0.012) == pytest.approx(25 / 12)


def test_cascades_run_vectorised_and_conserve_flow(hand_map) -> None:  # type: ignore[no-untyped-def]
    grid, longs = hand_map
    prof = profile(grid, 100_000.0, longs, "long")
    # Two exchanges with different κ: the inverse is Newton's, not a closed form.
    book = DepthCurve(
        (DepthFit("a", 6e8, 1.16, True, 1.0, (), ()), DepthFit("b", 3e8, 0.9, True, 1.0, (), ()))
    )
    shocks = np.array([0.008, 0.012, 0.02, 0.012, 0.02])
    survivals = np.array([1.0, 1.0, 0.29, 0.29, 0.06])
    paths = simulate_cascades(prof, book, shocks, survivals, rho=0.8)
    for i, (s, w) in enumerate(zip(shocks, survivals, strict=True)):
        one = simulate_cascade(prof, book, float(s), float(w), rho=0.8)
        assert paths.stop[i] == pytest.approx(one.stop) and paths.runaway[i] == one.runaway
        if not one.runaway:
            # At the stop the withdrawn book beyond the shock holds exactly the forced flow.
            absorbed = w * (float(book(one.stop)) - float(book(float(s))))
            assert absorbed == pytest.approx(0.8 * float(prof(one.stop)), rel=1e-6, abs=1.0)
            assert one.stop >= s


def test_a_near_tangent_cascade_is_finished_exactly() -> None:
    """Forced flow per unit of distance 0.998 of the book's: the iteration's steps shrink by
    0.998 each, thousands of them; after `max_iter` the path is finished exactly. $1B of longs
    per unit of distance from 0.95% below, D(u) = $1.002B·u: a 1% fall stops where
    1.002·(u − 0.01) = u − 0.0095, at 26%."""
    grid = PriceGrid(origin=50_000.0, width=50.0, n_bins=2_000)
    dist = 1 - grid.lows() / 100_000
    longs = np.where((dist > 0.0095) & (dist < 0.3), 0.5e6, 0.0)  # $0.5M per 0.05% bin
    prof = profile(grid, 100_000.0, longs, "long")
    for book in (
        power_law(1.002e9, 1.0),
        DepthCurve((DepthFit("a", 0.501e9, 1.0, True, 1.0, (), ()),) * 2),
    ):
        fast = simulate_cascade(prof, book, 0.01, 1.0)
        assert fast.stop == pytest.approx(0.26, rel=1e-9) and not fast.runaway
        assert fast.iterations == 50  # finished by bracketing, not by stepping
        slow = simulate_cascade(prof, book, 0.01, 1.0, max_iter=100_000)
        assert slow.iterations > 5_000 and slow.stop == pytest.approx(0.26, rel=1e-5)
    # A book a little thinner than the flow: the path crosses every level (to 30%); past them
    # the forced flow stops growing and the book catches up soon after.
    thin = simulate_cascade(prof, power_law(0.99e9, 1.0), 0.01, 1.0)
    assert not thin.runaway and thin.stop > 0.3


def test_runaway_is_reaching_the_edge_of_the_map() -> None:
    """A map that ends 5% below the price: the calm fall stops inside it (3.7%); under a
    typical withdrawal the fixed point lies past the edge ($12M + $15M/0.29 → 6.4%), and
    nothing beyond the map is known, so it is a runaway stopped at the edge."""
    grid = PriceGrid(origin=95_000.0, width=50.0, n_bins=200)
    longs = np.zeros(grid.n_bins)
    longs[grid.index_of(98_950)] = 15e6
    longs[grid.index_of(98_400)] = 10e6
    prof = profile(grid, 100_000.0, longs, "long")
    assert prof.edge == pytest.approx(0.05)
    book = power_law(1e9, 1.0)
    calm = simulate_cascade(prof, book, 0.012, 1.0)
    assert calm.stop == pytest.approx(0.037) and not calm.runaway
    typical = simulate_cascade(prof, book, 0.012, 0.29)
    assert typical.runaway and typical.stop == pytest.approx(0.05)
    assert typical.forced_usd == pytest.approx(25e6)
    # A shock past the edge is a runaway at once.
    assert simulate_cascade(prof, book, 0.06, 1.0).runaway


def test_w_crit_is_the_survival_below_which_the_shock_doubles(hand_map) -> None:  # type: ignore[no-untyped-def]
    grid, longs = hand_map
    prof = profile(grid, 100_000.0, longs, "long")
    book = power_law(1e9, 1.0)
    # min over (1.2%, 2.4%] of ρ·V(u)/(D(u) − D(1.2%)): $25M against the $12M of book between
    # 1.2% and 2.4%, i.e. 25/12 — above 1, so even the calm book lets a 1.2% fall double.
    wc = w_crit(prof, book, 0.012)
    assert wc == pytest.approx(25 / 12)
    below = simulate_cascade(prof, book, 0.012, wc * 0.98)
    above = simulate_cascade(prof, book, 0.012, wc * 1.02)
    assert below.stop >= 0.024 > above.stop
    # Nothing forced within the shock's reach: W_crit is 0 (it stops whatever the book).
    assert w_crit(prof, book, 0.004) == 0.0
    assert [w_level(x) for x in (0.01, 0.1, 0.5, None)] == ["low", "elevated", "high", None]


@pytest.mark.parametrize("shock", [0.006, 0.009, 0.012, 0.02])
def test_w_crit_separates_doubling_from_stopping_on_a_smooth_map(shock: float) -> None:
    grid = PriceGrid(origin=50_000.0, width=50.0, n_bins=2_000)
    lows = grid.lows()
    dist = 1 - lows / 100_000
    longs = np.where((dist > 0) & (dist < 0.1), 4e6 * np.exp(-(((dist - 0.02) / 0.01) ** 2)), 0.0)
    prof = profile(grid, 100_000.0, longs, "long")
    book = power_law(3e9, DEFAULT_KAPPA)
    wc = w_crit(prof, book, shock)
    assert 0 < wc < math.inf
    assert simulate_cascade(prof, book, shock, wc * 0.97).stop >= 2 * shock
    assert simulate_cascade(prof, book, shock, wc * 1.03).stop < 2 * shock


def test_depth_fit_default_kappa_when_the_book_is_shallow() -> None:
    # BTC-like: the REST book reaches 0.19% only; all four distances hold the visible total.
    fit = fit_depth("binance", D4, (3e6, 3e6, 3e6, 3e6), 0.0019)
    assert fit is not None and not fit.fitted and fit.kappa == DEFAULT_KAPPA
    assert fit.a == pytest.approx(3e6 / 0.0019**DEFAULT_KAPPA)
    curve = DepthCurve((fit,))
    d1, extrapolated = curve.measured(0.01)
    assert extrapolated and d1 == pytest.approx(3e6 * (0.01 / 0.0019) ** DEFAULT_KAPPA)
    assert fit_depth("x", D4, (0, 0, 0, 0), 0.0) is None


def test_depth_fit_recovers_a_power_law() -> None:
    a, kappa, reach = 2e9, 1.3, 0.03
    cum = tuple(a * min(d, reach) ** kappa for d in D4)
    fit = fit_depth("okx", D4, cum, reach)
    assert fit is not None and fit.fitted
    assert fit.kappa == pytest.approx(kappa) and fit.a == pytest.approx(a, rel=1e-9)
    curve = DepthCurve((fit,))
    assert curve.measured(0.01) == (pytest.approx(cum[1]), False)  # within reach: as shown
    assert curve.measured(0.05)[1] is True
    # Two exchanges add up; the inverse is consistent.
    two = DepthCurve((fit, fit))
    assert two.inverse(float(two(0.02))) == pytest.approx(0.02, rel=1e-6)


def test_detector_needs_the_absolute_threshold_and_the_z_score() -> None:
    def stats(**kw: object) -> ActivityStats:
        base = {"minute_long_usd": 0.0, "minute_short_usd": 0.0, "baseline_usd": 1_000.0,
                "active_minutes": 500, "history_minutes": 10_000, "move_15m": 0.0,
                "sigma_15m": 0.005}  # fmt: skip
        base.update(kw)
        return ActivityStats(**base)  # type: ignore[arg-type]

    burst = detector(stats(minute_long_usd=400_000.0))
    assert burst is not None and burst.firing and burst.multiple == pytest.approx(400)
    assert "400× the normal minute" in burst.reasons[0] and "longs" in burst.reasons[0]
    crash = detector(stats(move_15m=-0.035))  # 350 bp, z = −7
    assert crash is not None and crash.firing and crash.z_15m == pytest.approx(-7)
    noisy = detector(stats(move_15m=-0.035, sigma_15m=0.02))  # 350 bp but z = −1.75
    assert noisy is not None and not noisy.firing
    quiet = detector(stats(move_15m=-0.01, sigma_15m=0.001))  # z = −10 but only 100 bp
    assert quiet is not None and not quiet.firing
    young = detector(stats(minute_long_usd=400_000.0, active_minutes=3))  # no baseline yet
    assert young is not None and not young.firing


def _engine_with_map() -> Engine:
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15))
    oi = 1_000.0
    for m in range(30):
        t = T0 + m * MIN
        engine.apply(MarkPrice("binance", "BTC", t, 100_000.0))
        engine.apply(OpenInterest("binance", "BTC", t, oi))
        engine.advance(t)
        oi += 50.0
    return engine


def _book(t: int, reach: float = 0.0019, total: float = 3e6) -> BookDepth:
    usd = (total,) * 4
    return BookDepth("binance", "BTC", t, 100_000.0, D4, usd, usd, reach, reach)


def test_risk_report_per_side_with_a_book() -> None:
    engine = _engine_with_map()
    engine.apply(_book(engine.clock_ms))
    snap = engine.snapshot("BTC")
    report = risk_report(snap)
    assert report.disclaimer == DISCLAIMER and "not forecasts" in report.disclaimer
    assert not report.calibrated and report.rho == 1.0 and report.scale_label == "relative"
    assert any("relative" in n for n in report.notes)
    assert any("extrapolated" in n for n in report.notes)
    assert report.long is not None and report.short is not None
    # Cumulative E within each distance equals the snapshot's own bins below the price.
    grid = snap.grid
    assert grid is not None
    lows = grid.lows()
    for x in (0.01, 0.05):
        inside = (lows >= 100_000 * (1 - x)) & (lows < 100_000)
        expected = snap.estimated_long[inside].sum()
        assert report.long.e_within_usd[x] == pytest.approx(expected, rel=1e-6)
        depth = report.long.depth_usd[x]
        assert depth is not None
        assert report.r_x["long"][x] == pytest.approx(report.long.e_within_usd[x] / depth)
    assert report.e_within == e_within(snap)  # the one definition, as the panel and JSON use
    assert set(report.w_crit) == {"long", "short"} and report.w_crit_shock == 0.02
    # 2 sides × 3 shocks × 3 regimes; falls are negative, rises positive.
    assert len(report.scenarios) == 18
    longs = [s for s in report.scenarios if s.side == "long"]
    assert all(s.shock < 0 for s in longs) and all(
        s.stop is None or s.stop <= s.shock for s in longs
    )
    assert {s.regime for s in report.scenarios} == {"calm", "typical", "stressed"}
    calm = [s for s in longs if s.regime == "calm"]
    stressed = [s for s in longs if s.regime == "stressed"]
    for c, st in zip(calm, stressed, strict=True):  # a thinner book never stops sooner
        assert st.runaway or (c.stop is not None and st.stop is not None and st.stop <= c.stop)


def test_risk_report_never_applies_the_calibrated_rho_and_says_what_is_missing() -> None:
    """A ρ measured on throttled feeds is a lower bound: the risk figures keep ρ = 1 (or the
    configured model.risk_rho) and say which they apply; the calibrated one is shown only."""
    engine = _engine_with_map()
    engine.rho, engine.calibrated_preset = 0.25, "high"
    plain = risk_report(engine.snapshot("BTC"))
    assert plain.calibrated and plain.scale_label == "calibrated ρ=0.25"
    assert plain.rho == 1.0 and plain.rho_source == "default" and plain.calibrated_rho == 0.25
    assert "ρ = 1 applied (default: every estimated position is forced)" in plain.rho_note
    assert "lower bound" in plain.rho_note and "0.25 is not applied" in plain.rho_note
    assert plain.long is not None and plain.long.ratio[0.01] is None  # no book
    assert plain.scenarios == () and any("no fresh order-book depth" in n for n in plain.notes)
    engine.apply(_book(engine.clock_ms - 10 * MIN))  # a stale book is left out
    stale = risk_report(engine.snapshot("BTC"))
    assert any("min old" in n for n in stale.notes) and stale.scenarios == ()
    engine.apply(_book(engine.clock_ms))
    fresh = risk_report(engine.snapshot("BTC"))
    assert fresh.long is not None
    raw = engine.snapshot("BTC")
    e5 = profile(raw.grid, 100_000.0, np.asarray(raw.estimated_long), "long")(0.05)  # type: ignore[arg-type]
    # E within is the map's E; ρ scales it only where it meets the book (R_X, W_crit, scenarios).
    assert fresh.long.e_within_usd[0.05] == pytest.approx(e5)
    depth = fresh.long.depth_usd[0.05]
    assert depth is not None and fresh.r_x["long"][0.05] == pytest.approx(e5 / depth)
    # A configured ρ is applied, and said to be configured.
    engine.risk_rho = 0.5
    configured = risk_report(engine.snapshot("BTC"))
    assert configured.rho == 0.5 and configured.rho_source == "configured"
    assert "configured: model.risk_rho" in configured.rho_note
    assert configured.r_x["long"][0.05] == pytest.approx(0.5 * e5 / depth)
    w_default, w_half = fresh.w_crit["long"], configured.w_crit["long"]
    assert w_default is not None and w_half == pytest.approx(0.5 * w_default)


def test_risk_report_without_data() -> None:
    report = risk_report(Engine().snapshot("NOPE"))
    assert report.long is None and report.scenarios == () and report.price is None
    assert any("no price" in n for n in report.notes)
    assert math.isclose(report.rho, 1.0)
    assert report.e_within.long_usd is None and report.e_within.reason == NO_PRICE


def test_risk_report_with_prints_only_says_e_needs_open_interest() -> None:
    engine = Engine()
    engine.apply(Liquidation("binance", "BTC", T0, "long", 100_000.0, 1.0, 100_000.0))
    engine.apply(_book(T0))
    engine.advance(T0 + MIN)
    report = risk_report(engine.snapshot("BTC"))
    assert report.price == 100_000.0 and report.long is None and report.short is None
    assert report.e_within.long_usd is None and report.e_within.short_usd is None
    assert report.e_within.reason == NO_ESTIMATE and NO_ESTIMATE in report.notes
    assert report.e_within.total(0) is None


def _flat_snapshot(price: float) -> MarketSnapshot:
    """Bins 90 … 110 of width 1: E long 1 per bin, E short 2 per bin."""
    grid = PriceGrid(origin=90.0, width=1.0, n_bins=20)
    ones = np.ones(20)
    ones.flags.writeable = False
    zeros = np.zeros(20)
    return MarketSnapshot(
        "TEST", T0, price, "mark", grid, ones, 2 * ones, zeros, zeros, 0.0, 0.0, 0, MIN, "high",
        "all", None, {}, {}, {}, {}, (), 0,
    )  # fmt: skip


def test_e_within_counts_a_bin_by_the_share_of_its_range_inside() -> None:
    ew = e_within(_flat_snapshot(100.0))
    assert ew.distances == D4 and ew.reason is None
    # 0.5 % of 100 is half of the bin 99–100; 5 % is five whole bins. Longs below, shorts above.
    assert ew.long_usd == pytest.approx((0.5, 1.0, 2.0, 5.0), abs=1e-12)
    assert ew.short_usd == pytest.approx((1.0, 2.0, 4.0, 10.0), abs=1e-12)
    assert ew.total(1) == pytest.approx(3.0)
    # The price inside a bin splits it: at 100.5, 0.5% below (99.9975) is half of 100–101
    # (the part below the price) plus 0.0025 of 99–100.
    off = e_within(_flat_snapshot(100.5), (0.005,))
    assert off.long_usd is not None and off.short_usd is not None
    assert off.long_usd[0] == pytest.approx(0.5 + 0.0025, rel=1e-9)
    assert off.short_usd[0] == pytest.approx(2 * (0.5 + 0.0025), rel=1e-9)  # to 101.0025


def test_snapshot_json_carries_the_panel_figures_and_the_rho_applied() -> None:
    """The JSON's risk section is the report's: R_X per band, W_crit, the 18 scenarios, and
    which ρ they apply (configured here), valid against the shipped schema."""
    import json

    import jsonschema

    from liqtui.output.snapshot import render_json, schema_text

    engine = _engine_with_map()
    engine.rho, engine.calibrated_preset, engine.risk_rho = 0.25, "high", 0.5
    engine.apply(_book(engine.clock_ms))
    snap = engine.snapshot("BTC")
    doc = json.loads(render_json(snap))
    jsonschema.validate(doc, json.loads(schema_text()))
    risk, report = doc["risk"], risk_report(snap)
    assert risk["rho"]["applied"] == 0.5 and risk["rho"]["source"] == "configured"
    assert risk["rho"]["calibrated"] == 0.25 and "lower bound" in risk["rho"]["note"]
    assert [b["r_long"] for b in risk["bands"]] == pytest.approx(
        [report.r_x["long"][x] for x in D4]
    )
    assert risk["w_crit"]["long"] == pytest.approx(report.w_crit["long"])
    assert len(risk["scenarios"]) == 18
    first = report.scenarios[0]
    assert risk["scenarios"][0]["shock_pct"] == pytest.approx(first.shock * 100)
    assert risk["notes"] == list(report.notes)
