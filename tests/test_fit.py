"""The parameter fit (liqtui.model.fit, `liqtui calibrate --fit`) on bars generated here: it
counts C as calibrate does, chooses on the training windows only, keeps a parameter that makes
no measurable difference, and --write stores what it chose where every engine loads it."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from liqtui.cli import main
from liqtui.commands.convert_bars import convert
from liqtui.commands.fit import _Capture
from liqtui.config import load_settings
from liqtui.events import Liquidation
from liqtui.feeds.replay import ReplaySource
from liqtui.fitted import fitted_path, load_fits
from liqtui.model import fit as F
from liqtui.model.density import ModelParams, preset_weights
from liqtui.model.engine import engine_from_settings
from liqtui.presets import LEVERAGE_TIERS

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
HEADER = (
    "timestamp,price_open,price_high,price_low,price_close,liquidation_long_usd,"
    "liquidation_short_usd,funding_close,oi_close\n"
)


@pytest.fixture(scope="module")
def bars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten days of hourly bars: a random walk; open interest that builds and unwinds;
    liquidations that grow with how far each bar went beyond the last few hours' range."""
    rng = random.Random(5)
    rows, price, oi = [HEADER], 100_000.0, 8e9
    closes: list[float] = []
    for i in range(240):
        o = price
        c = o * math.exp(rng.gauss(0, 0.006))
        h = max(o, c) * (1 + abs(rng.gauss(0, 0.003)))
        lo = min(o, c) * (1 - abs(rng.gauss(0, 0.003)))
        recent = closes[-6:] or [o]
        new_low = max(min(recent) - lo, 0.0) / o
        new_high = max(h - max(recent), 0.0) / o
        long_usd = 2e5 + 4e9 * new_low * rng.uniform(0.5, 1.5)
        short_usd = 2e5 + 4e9 * new_high * rng.uniform(0.5, 1.5)
        oi *= math.exp(rng.gauss(0.0005, 0.004))
        rows.append(f"{T0 + i * H},{o},{h},{lo},{c},{long_usd},{short_usd},0.01,{oi}\n")
        closes.append(c)
        price = c
    csv = tmp_path_factory.mktemp("bars") / "bars.csv"
    csv.write_text("".join(rows))
    out = csv.with_name("bars.jsonl.gz")
    convert(csv, out, symbol="BTC")
    return out


@pytest.fixture(scope="module")
def steps(bars: Path) -> list[object]:
    capture = _Capture()
    ReplaySource(bars, speed=None).run_sync(capture)
    return capture.steps


KW = {"window_ms": H, "warmup_ms": 24 * H}
SMALL = {"half_lives": (6 * H, 48 * H), "turnovers": (0.0, 0.03)}


def test_mixes_are_on_the_simplex_without_2x_then_the_presets() -> None:
    mixes = F.mix_grid()
    assert len(mixes) == 70 + 3  # 4 quarters over 5 tiers, then high / balanced / observed-low
    for w in mixes[:70]:
        assert len(w) == len(LEVERAGE_TIERS) and w[0] == 0.0
        assert sum(w) == pytest.approx(1.0)
    assert mixes[70] == tuple(preset_weights("high"))


def test_the_bare_replay_counts_c_exactly_as_calibrate(steps: list[object]) -> None:
    params = ModelParams(half_life_ms=12 * H, turnover=0.03)
    pairs, exchanges = F.calibrator_pairs(steps, "BTC", params, preset_weights("high"), **KW)
    assert exchanges == ["binance"]
    assert pairs.model_tiers.sum() > 0
    lean = F.tier_consumption(steps, "BTC", params, pairs, exchanges, **KW)
    np.testing.assert_array_equal(lean, pairs.model_tiers)


def test_the_choice_never_looks_at_the_test_windows(steps: list[object]) -> None:
    params = ModelParams(half_life_ms=12 * H, turnover=0.0)
    weights = tuple(preset_weights("high"))
    one = F.fit(steps, "BTC", params=params, weights=weights, knobs=False, **KW, **SMALL)
    # The same data with every realized print after the split scaled at random.
    rng = random.Random(1)
    scrambled = [
        s.__class__(
            s.exchange,
            s.symbol,
            s.time_ms,
            s.side,
            s.price,
            s.quantity,
            s.notional_usd * rng.uniform(0.01, 100),
        )
        if isinstance(s, Liquidation) and s.time_ms >= one.split.split_ms
        else s
        for s in steps
    ]
    two = F.fit(scrambled, "BTC", params=params, weights=weights, knobs=False, **KW, **SMALL)
    assert two.split.split_ms == one.split.split_ms
    assert (two.after.half_life_ms, two.after.turnover, two.after.weights) == (
        one.after.half_life_ms,
        one.after.turnover,
        one.after.weights,
    )
    assert two.after.train == one.after.train
    assert two.after_test.model.partial != one.after_test.model.partial
    assert one.split.n_train_windows > one.split.n_test_windows > 0
    assert one.replays == 1 + 1 + 2 + 1  # as set, turnover 0.03, half-lives 6h and 48h, chosen
    assert one.before.turnover == 0.0 and one.before.weights == weights


def test_a_mix_that_gains_nothing_measurable_leaves_the_current_one(steps: list[object]) -> None:
    params = ModelParams(half_life_ms=12 * H, turnover=0.03)
    pairs, _ = F.calibrator_pairs(steps, "BTC", params, preset_weights("high"), **KW)
    split = F.split_in_time(pairs, 0.6)
    c = pairs.model_tiers
    current = tuple(preset_weights("balanced"))
    # The same mix scaled is the same ranking: no gain, so the current one stays.
    w, train, _ = F._best_mix(c, pairs, split, [current, tuple(2 * x for x in current)])
    assert w == current
    assert train == pytest.approx(F.partial_on(c @ np.asarray(current), pairs, split.train))


def test_calibrate_fit_write_stores_what_every_engine_loads(
    bars: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["calibrate", "--fit", "--replay", str(bars), "--symbol", "BTC", "--warmup", "24h"]
    assert main([*args, "--format", "json", "--write"]) == 0
    out = capsys.readouterr().out
    doc = json.loads(out.splitlines()[0])
    assert doc["symbol"] == "BTC" and doc["train_windows"] > doc["test_windows"] > 0
    for key in ("before", "after"):
        assert set(doc["test"][key]) == {"model", "naive"}
        assert -1 <= doc["test"][key]["model"]["partial"] <= 1
    assert doc["replays"] >= 10 and doc["seconds"] > 0
    assert "wrote the fitted parameters of BTC" in out
    fits = load_fits(fitted_path())
    fit = fits["BTC"]
    assert fit.half_life_ms == doc["after"]["half_life_ms"]
    assert fit.turnover == doc["after"]["turnover"]
    assert fit.leverage_weights == pytest.approx(doc["after"]["weights"])
    assert fit.bar == "1h" and "out of sample" in fit.fitted_on
    engine = engine_from_settings(load_settings())
    assert engine.params_for("BTC").half_life == fit.half_life_ms
    assert engine.fitted_for("BTC") == fit.leverage_weights
    # The text form names the figures and the comparison maps.
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "model fitted" in text and "naive ±1/L" in text and "OI × excursion" in text


@pytest.mark.parametrize(
    ("extra", "problem"),
    [
        ([], "--fit needs exactly one --symbol"),
        (["--symbol", "BTC"], "needs --replay FILE or --demo"),
        (["--symbol", "BTC", "--replay", "/nonexistent.jsonl"], "no such recording"),
        (["--symbol", "BTC", "--demo", "--train", "0.95"], "--train"),
    ],
)
def test_fit_usage_errors_exit_2(
    extra: list[str], problem: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) if "--train" in extra else _nothing():
        assert main(["calibrate", "--fit", *extra]) == 2
    assert problem in capsys.readouterr().err


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return False
