"""Calibration: C against R per cell and window, the naive baseline, the config it writes, and
the tier refresh (against a loopback exchange, never a real host)."""

from __future__ import annotations

import errno
import io
import json
import tomllib
from collections.abc import Callable
from pathlib import Path

import msgspec
import numpy as np
import pytest
from support.loopback import Loopback
from support.recordings import force_order, line, write_recording

from liqtui.cli import build_parser
from liqtui.commands import calibrate
from liqtui.commands.calibrate import merge_tiers_file, update_config
from liqtui.config import ConfigError, Endpoint, Settings, load_settings
from liqtui.events import Liquidation, MarkPrice, OpenInterest
from liqtui.feeds.tiers import refresh_tiers
from liqtui.model.calibrate import Calibrator, nnls, rankdata, spearman
from liqtui.model.density import LONG, ModelParams, preset_weights
from liqtui.model.engine import Engine, engine_from_settings
from liqtui.model.mechanics import liquidation_price, load_tier_tables

T0 = 1_767_225_600_000
MIN = 60_000


def test_ranks_and_spearman_by_hand() -> None:
    assert rankdata(np.array([10.0, 20.0, 20.0, 30.0])).tolist() == [1.0, 2.5, 2.5, 4.0]
    # d = (0, 1, −1, 0): 1 − 6·2/(4·15) = 0.8
    assert spearman([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2], [1, 2]) is None and spearman([1, 1, 1], [1, 2, 3]) is None


def test_nnls_recovers_non_negative_weights() -> None:
    rng = np.random.default_rng(0)
    a = rng.random((200, 6))
    truth = np.array([0.0, 0.0, 2.0, 0.0, 1.0, 0.5])
    assert nnls(a, a @ truth) == pytest.approx(truth, abs=1e-9)
    # An unconstrained fit would go negative: the constrained one stays at zero there.
    b = a[:, 0] - 0.5 * a[:, 1]
    w = nnls(a, b)
    assert (w >= 0).all() and w[1] == 0


def _feed_dip_scenario(cal: Calibrator, *, dips: int = 1, prints_per_dip: int = 1) -> float:
    """OI grows by 10 BTC a minute at 100,000 (flat); every 10 minutes the mark dips to 99,300
    for a moment, crossing the 100x long level (≈ 99,398) of the positions opened since the
    last dip, and a long is liquidated there. Returns the realized notional (R)."""
    oi, realized = 1_000.0, 0.0
    for m in range(12 + 10 * dips):
        t = T0 + m * MIN
        cal.apply(MarkPrice("binance", "BTC", t, 100_000.0))
        cal.apply(OpenInterest("binance", "BTC", t + 1, oi))
        oi += 10.0
        if m >= 12 and m % 10 == 5:
            cal.apply(MarkPrice("binance", "BTC", t + 20_000, 99_300.0))
            for i in range(prints_per_dip):
                qty = 0.5 + 0.01 * i
                ev = Liquidation(
                    "binance", "BTC", t + 20_000 + i, "long", 99_398.0, qty, qty * 99_398
                )
                cal.apply(ev)
                realized += ev.notional_usd
            cal.apply(MarkPrice("binance", "BTC", t + 30_000, 100_000.0))
        cal.advance(t + 2)
    cal.advance(T0 + (13 + 10 * dips) * MIN)
    return realized


def test_model_and_naive_map_are_scored_on_the_same_prints() -> None:
    engine = Engine(params=ModelParams(turnover=0.0, half_life_ms=10**15), preset="high")
    cal = Calibrator(engine, warmup_ms=10 * MIN, window_ms=60 * MIN)
    realized = _feed_dip_scenario(cal, dips=1)
    res = cal.result("BTC")
    assert res.exchanges == ("binance",) and res.throttled == ("binance",) and res.prints == 1
    assert res.model.sum_r == pytest.approx(realized)
    # One scored window (minutes 10–22 of the first hour), long and short.
    assert (res.n_windows, res.n_pairs) == (1, 2)
    long_row, short_row = res.windows
    assert (long_row.side, short_row.side) == ("long", "short")
    assert long_row.realized_usd == pytest.approx(realized) and short_row.realized_usd == 0
    assert long_row.excursion == pytest.approx(0.007) and short_row.excursion == 0
    assert long_row.baseline_usd == pytest.approx(long_row.oi_usd * 0.007)
    # C is what the steps took out of E (preset-weighted): the dip's 100x longs, and the few
    # 100x shorts opened during the dip (entries spread over 99,300–100,000) that the recovery
    # to 100,000 crossed right after.
    model = engine.markets["BTC"]
    assert model.consumed is not None
    per_side = np.einsum("stn,t->s", model.consumed[0], preset_weights("high"))
    weighted_c = float(per_side.sum())
    assert per_side[LONG] > 10 * per_side[1] > 0
    assert res.model.sum_c == pytest.approx(weighted_c)
    assert res.model.rho == pytest.approx(realized / weighted_c)
    assert long_row.model_usd + short_row.model_usd == pytest.approx(weighted_c)
    # The naive map (all OI at ±1/L of 100,000) has its 100x level at 99,000: never crossed.
    assert res.naive.sum_c == 0 and res.naive.rho is None
    text = calibrate.format_result(res, "test")
    assert "model (high)" in text and "naive ±1/L" in text and "OI×excursion" in text
    assert "partial rank corr C~R | excursion" in text and "ΣR (realized)" in text


def test_naive_map_is_redrawn_every_step_and_scored_on_the_same_windows() -> None:
    """Three hours; in each, after 20 flat minutes, the mark falls 1.2% (past the naive map's
    100x longs at −1%) for a minute and comes back, once in hour 1 and twice in hour 2. The
    naive map is redrawn at every step, so the second fall of hour 2 consumes its 100x longs
    again (a map frozen for the window would have given nothing the second time)."""
    engine = Engine(preset="high")
    cal = Calibrator(engine, warmup_ms=30 * MIN, window_ms=60 * MIN)
    oi, falls = 1_000.0, {80, 140, 160}
    for m in range(180):
        t = T0 + m * MIN
        price = 98_800.0 if m in falls else 100_000.0
        cal.apply(MarkPrice("binance", "BTC", t, price))
        cal.apply(OpenInterest("binance", "BTC", t + 1, oi))
        oi += 1.0
        if m in falls:
            cal.apply(Liquidation("binance", "BTC", t + 2, "long", 98_800.0, 1.0, 98_800.0))
        cal.advance(t + 3)
    cal.advance(T0 + 180 * MIN)
    res = cal.result("BTC")
    assert res.n_windows == 3 and res.n_pairs == 6  # hour 0 after the warm-up, 1 and 2
    naive = {(w.start_ms, w.side): w.naive_usd for w in res.windows}
    h1, h2 = T0 + 60 * MIN, T0 + 120 * MIN
    weights = preset_weights("high")
    # Only the 100x tier (−1%) lies above 98,800 of the 2x…100x levels at 100,000·(1 − 1/L).
    one_fall = 0.5 * weights[-1]
    assert naive[(h1, "long")] / (1_080 * 100_000) == pytest.approx(one_fall, rel=0.01)
    assert naive[(h2, "long")] == pytest.approx(2 * naive[(h1, "long")], rel=0.1)
    assert naive[(T0, "long")] == naive[(T0, "short")] == 0
    # Redrawn at 98,800 after the fall, the map's 100x shorts (+1%) are crossed on the way back.
    assert naive[(h1, "short")] / (1_081 * 98_800) == pytest.approx(one_fall, rel=0.01)
    excursion = {(w.start_ms, w.side): w.excursion for w in res.windows}
    assert excursion[(h1, "long")] == pytest.approx(0.012) and excursion[(T0, "long")] == 0
    realized = {(w.start_ms, w.side): w.realized_usd for w in res.windows}
    assert realized[(h2, "long")] == pytest.approx(2 * 98_800.0)
    # Every column is scored on the same pairs.
    assert res.model.n == res.naive.n == res.baseline.n == 6


def test_nothing_to_compare_without_prints() -> None:
    cal = Calibrator(Engine(), warmup_ms=0)
    for m in range(5):
        cal.apply(MarkPrice("binance", "BTC", T0 + m * MIN, 100_000.0))
        cal.apply(OpenInterest("binance", "BTC", T0 + m * MIN + 1, 1_000.0 + m))
        cal.advance(T0 + m * MIN + 2)
    res = cal.result("BTC")
    assert not res.comparable and res.exchanges == () and res.model.rho is None
    reason = "no realized prints in the recording (open interest from binance)"
    assert res.not_comparable_reason == reason
    assert f"not calibrated (ρ undefined): {reason}" in calibrate.format_result(res, "x")


def _feed(cal: Calibrator, *, oi_rises: bool = True) -> None:
    """Ten minutes of Binance BTC: mark 100,000 (a dip to 99,300 in minute 6), OI readings
    (rising or flat), and a Bybit long liquidated at 99,300 in minute 6 (sent twice)."""
    for m in range(10):
        t = T0 + m * MIN
        cal.apply(MarkPrice("binance", "BTC", t, 99_300.0 if m == 6 else 100_000.0))
        cal.apply(OpenInterest("binance", "BTC", t + 1, 1_000.0 + (10.0 * m if oi_rises else 0)))
        if m == 6:
            for _ in range(2):  # the same print twice (two collectors): counted once
                cal.apply(Liquidation("bybit", "BTC", t + 2, "long", 99_300.0, 1.0, 99_300.0))
        cal.advance(t + 3)


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("no such market", "no data for ETH in the source"),
        ("flat OI", "open interest (binance) never changed, so the estimated map is empty; "
                    "1 realized prints found (bybit 1)"),
        ("prints elsewhere", "1 realized prints found (bybit 1), but none from an exchange with an "
                             "estimated map (binance, from open interest)"),
    ],
)  # fmt: skip
def test_calibrator_says_why_a_market_cannot_be_scored(case: str, reason: str) -> None:
    cal = Calibrator(Engine(), warmup_ms=0)
    _feed(cal, oi_rises=case != "flat OI")
    res = cal.result("ETH" if case == "no such market" else "BTC")
    assert not res.comparable and res.not_comparable_reason == reason


def test_calibrator_says_when_every_print_fell_in_the_warm_up() -> None:
    cal = Calibrator(Engine(), warmup_ms=2 * 3_600_000)
    for m in range(10):  # Binance prints this time, all within the first two hours
        t = T0 + m * MIN
        cal.apply(MarkPrice("binance", "BTC", t, 100_000.0))
        cal.apply(OpenInterest("binance", "BTC", t + 1, 1_000.0 + 10.0 * m))
        cal.apply(Liquidation("binance", "BTC", t + 2, "long", 99_000.0, 1.0, 99_000.0))
        cal.advance(t + 3)
    res = cal.result("BTC")
    assert res.not_comparable_reason == (
        "10 realized prints found (binance 10), all within the warm-up (the first 2h, which "
        "builds the map): use a shorter --warmup or a longer recording"
    )


def test_update_config_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        '# mine\n[general]\nfps = 2.0\n\n[model]\n# my preset\npreset = "balanced"\n'
        "fitted_weights = [\n  0.1,\n  0.2,\n]\nrho = 0.5\n\n[ladder]\nspan_pct = 0.05\n"
    )
    update_config(
        path,
        "model",
        {"rho": 0.125, "fitted_weights": [0, 0, 0.5, 0.5, 0, 0], "calibrated_on": "x"},
    )
    text = path.read_text()
    doc = tomllib.loads(text)
    assert doc["model"] == {
        "preset": "balanced",
        "fitted_weights": [0, 0, 0.5, 0.5, 0, 0],
        "rho": 0.125,
        "calibrated_on": "x",
    }
    assert doc["general"]["fps"] == 2.0 and doc["ladder"]["span_pct"] == 0.05
    assert "# mine" in text and "# my preset" in text
    # A value the config would refuse is never written.
    with pytest.raises(ConfigError):
        update_config(path, "model", {"rho": -1.0})
    assert tomllib.loads(path.read_text())["model"]["rho"] == 0.125
    fresh = tmp_path / "new" / "config.toml"
    update_config(fresh, "model", {"rho": 0.3})
    assert tomllib.loads(fresh.read_text()) == {"model": {"rho": 0.3}}


DOTTED_AND_INLINE = [
    # Dotted keys at the top, before a table: the old line-based writer added a second [model].
    ("# mine\nmodel.rho = 0.5  # old\nmodel.preset = \"balanced\"\n[general]\nfps = 2.0\n",
     ["# mine", "# old", "model.rho = 0.125", 'model.calibrated_on = "x"']),
    # Dotted keys after the tables ([general] ends where the next table starts).
    ('[general]\nfps = 2.0\n[ladder]\nspan_pct = 0.05\n[model]\npreset = "balanced"  # p\n',
     ["# p", "[ladder]"]),
    # An inline table.
    ('model = { rho = 0.5, preset = "balanced" }\n[general]\nfps = 2.0\n', ["model = {"]),
    # A table header with a comment and odd spacing, and a sub-table-like neighbour.
    ('[ general ]  # g\nfps = 2.0\n\n[model]   # m\npreset = "balanced"\n', ["# g", "# m"]),
    # No [model] yet.
    ("[general]\nfps = 2.0\n", ["[general]", "[model]"]),
]  # fmt: skip


@pytest.mark.parametrize(("text", "kept"), DOTTED_AND_INLINE)
def test_update_config_edits_toml_as_toml(tmp_path: Path, text: str, kept: list[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text)
    before = tomllib.loads(text)
    update_config(path, "model", {"rho": 0.125, "calibrated_on": "x"})
    out = path.read_text()
    doc = tomllib.loads(out)
    assert doc["model"]["rho"] == 0.125 and doc["model"]["calibrated_on"] == "x"
    assert doc["model"].get("preset") == before.get("model", {}).get("preset")
    assert doc["general"] == before["general"] and doc.get("ladder") == before.get("ladder")
    for fragment in kept:
        assert fragment in out, (fragment, out)
    load_settings(path)  # and liqtui reads it


def test_update_config_replaces_the_file_atomically(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, renames: list[tuple[str, str]]
) -> None:
    import os

    path = tmp_path / "config.toml"
    path.write_text("model.rho = 0.5\n")
    path.chmod(0o640)
    update_config(path, "model", {"rho": 0.25})
    ((before, written),) = renames
    assert before == "model.rho = 0.5\n" and written == "model.rho = 0.25\n"
    assert path.read_text() == written and path.stat().st_mode & 0o777 == 0o640

    # A write that fails half-way (a full disk) leaves the old file whole and no temp file.
    def full_disk(fd: int) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(OSError):
        update_config(path, "model", {"rho": 0.375})
    assert path.read_text() == written
    assert sorted(p.name for p in tmp_path.iterdir()) == ["config.toml"]


def _dip_recording(path: Path, dips: int, prints_per_dip: int, *, with_oi: bool = True) -> Path:
    """The dip scenario as a Binance recording (mark prices, OI replies unless not `with_oi`,
    forceOrders)."""
    lines = []

    def mark(t: int, price: float) -> None:
        msg = {"e": "markPriceUpdate", "E": t, "s": "BTCUSDT", "p": f"{price}", "r": "0"}
        lines.append(line(msg, t))

    oi = 1_000.0
    for m in range(12 + 10 * dips):
        t = T0 + m * MIN
        mark(t, 100_000.0)
        reply = {"symbol": "BTCUSDT", "openInterest": f"{oi}", "time": t + 1}
        rest = {"t": t + 1, "ex": "binance", "rest": "/fapi/v1/openInterest?symbol=BTCUSDT"}
        if with_oi:
            lines.append(json.dumps({**rest, "msg": reply}) + "\n")
        oi += 10.0
        if m >= 12 and m % 10 == 5:
            mark(t + 20_000, 99_300.0)
            for i in range(prints_per_dip):
                qty = f"{0.5 + 0.01 * i:.2f}"
                order = force_order("BTCUSDT", "SELL", qty, "99398", "99300", t + 20_000 + i)
                lines.append(line(order, t + 20_000 + i))
            mark(t + 30_000, 100_000.0)
    mark(T0 + (13 + 10 * dips) * MIN, 100_000.0)
    return write_recording(path, lines)


@pytest.fixture
def user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """Factory: the user's config file ($LIQTUI_CONFIG) with this text."""

    def make(text: str) -> Path:
        user = tmp_path / "user.toml"
        user.write_text(text)
        monkeypatch.setenv("LIQTUI_CONFIG", str(user))
        return user

    return make


def test_cli_calibrate_writes_rho_and_the_snapshot_says_calibrated(
    tmp_path: Path, user_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from liqtui.cli import main

    rec = _dip_recording(tmp_path / "dips.jsonl", dips=6, prints_per_dip=10)
    user = user_config("[general]\nfps = 3.0\n")
    argv = ["calibrate", "--replay", str(rec), "--symbol", "BTC", "--warmup", "10m"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "model (high)" in out and "naive ±1/L" in out and "60 realized prints" in out
    assert main([*argv, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["comparable"] and doc["model"]["partial"] is not None
    assert doc["n_pairs"] == len(doc["windows"]) == 2 * doc["n_windows"]
    assert {"start_ms", "end_ms", "side", "model_usd", "naive_usd", "realized_usd"} <= set(
        doc["windows"][0]
    )
    assert sum(w["realized_usd"] for w in doc["windows"]) == pytest.approx(doc["model"]["sum_r"])
    assert "lower bound" in doc["rho_caveat"]
    rho = doc["model"]["rho"]
    assert main([*argv, "--write"]) == 0
    # Written, never silently: the throttled feed's ρ is a lower bound, and it says so.
    assert "ρ comes from throttled feeds (binance): a lower bound" in capsys.readouterr().out
    written = tomllib.loads(user.read_text())
    assert "(throttled: binance; ρ is a lower bound)" in written["model"]["calibrated_on"]
    assert written["general"]["fps"] == 3.0
    assert written["model"]["rho"] == pytest.approx(rho, rel=1e-5)
    assert written["model"]["calibrated_preset"] == "high"
    assert "dips.jsonl" in written["model"]["calibrated_on"]
    settings = load_settings()
    engine = engine_from_settings(settings)
    engine.apply(MarkPrice("binance", "BTC", T0, 100_000.0))
    snap = engine.snapshot("BTC")
    assert snap.calibrated and snap.scale == pytest.approx(rho, rel=1e-5)
    # With fitted weights the config switches to the fitted preset, which stays calibrated.
    assert main([*argv, "--fit-weights", "--write"]) == 0
    capsys.readouterr()
    model = load_settings().model
    assert model.preset == "fitted" and model.calibrated_preset == "fitted"
    assert len(model.fitted_weights) == 6 and sum(model.fitted_weights) == pytest.approx(1.0)
    assert engine_from_settings(load_settings()).snapshot("BTC").preset == "fitted"


def test_cli_calibrate_writes_to_a_config_with_dotted_keys(
    tmp_path: Path, user_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from liqtui.cli import main

    rec = _dip_recording(tmp_path / "dips.jsonl", dips=6, prints_per_dip=10)
    user = user_config("# my settings\nmodel.rho = 0.3  # by hand\n[general]\nfps = 3.0\n")
    argv = ["calibrate", "--replay", str(rec), "--symbol", "BTC", "--warmup", "10m", "--write"]
    assert main(argv) == 0, capsys.readouterr().err
    text = user.read_text()
    assert text.startswith("# my settings\nmodel.rho = ") and "# by hand" in text
    model = load_settings().model
    assert model.rho != 0.3 and model.calibrated_preset == "high"


def test_cli_calibrate_says_it_needs_open_interest(
    tmp_path: Path, user_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from liqtui.cli import main

    rec = _dip_recording(tmp_path / "no-oi.jsonl", dips=6, prints_per_dip=10, with_oi=False)
    user = user_config("")
    reason = (
        "no open interest in the recording: the estimated map needs OI; "
        "60 realized prints found (binance 60)"
    )
    argv = ["calibrate", "--replay", str(rec), "--symbol", "BTC", "--warmup", "10m"]
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert (
        f"compared: nothing — {reason}" in out and f"not calibrated (ρ undefined): {reason}" in out
    )
    assert "no realized prints" not in out
    assert main([*argv, "--format", "json"]) == 1
    assert json.loads(capsys.readouterr().out)["not_comparable_reason"] == reason
    assert main([*argv, "--write"]) == 1
    assert capsys.readouterr().err == f"liqtui: not written: {reason}\n"
    assert user.read_text() == ""


def test_cli_refuses_to_write_from_too_few_prints(
    tmp_path: Path, user_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    from liqtui.cli import main

    rec = _dip_recording(tmp_path / "few.jsonl", dips=1, prints_per_dip=3)
    user = user_config("")
    status = main(["calibrate", "--replay", str(rec), "--warmup", "10m", "--write"])
    assert status == 1 and "not written" in capsys.readouterr().err
    assert user.read_text() == ""


# -- tier refresh against a loopback exchange --------------------------------------------------

BYBIT_PAGE_1 = {
    "retCode": 0,
    "retMsg": "OK",
    "result": {
        "category": "linear",
        "list": [
            {
                "id": 1,
                "symbol": "BTCUSDT",
                "riskLimitValue": "2000000",
                "maintenanceMargin": "0.005",
                "initialMargin": "0.01",
                "maxLeverage": "100.00",
                "mmDeduction": "",
            }
        ],
        "nextPageCursor": "p2",
    },
}
BYBIT_PAGE_2 = {
    "retCode": 0,
    "retMsg": "OK",
    "result": {
        "category": "linear",
        "list": [
            {
                "id": 2,
                "symbol": "BTCUSDT",
                "riskLimitValue": "4000000",
                "maintenanceMargin": "0.01",
                "initialMargin": "0.02",
                "maxLeverage": "50.00",
                "mmDeduction": "10000",
            }
        ],
        "nextPageCursor": "",
    },
}
OKX_INSTRUMENT = {"code": "0", "msg": "", "data": [{"instId": "BTC-USDT-SWAP", "ctVal": "0.01"}]}
OKX_TIERS = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "instFamily": "BTC-USDT",
            "tier": "2",
            "minSz": "20001",
            "maxSz": "40000",
            "mmr": "0.006",
            "imr": "0.0125",
            "maxLever": "80",
        },
        {
            "instFamily": "BTC-USDT",
            "tier": "1",
            "minSz": "0",
            "maxSz": "20000",
            "mmr": "0.004",
            "imr": "0.01",
            "maxLever": "100",
        },
    ],
}


async def test_refresh_tiers_from_bybit_and_okx_loopback(tmp_path: Path) -> None:
    from aiohttp import web

    async def risk_limit(request: web.Request, loop: Loopback) -> web.StreamResponse:
        assert request.query["category"] == "linear" and request.query["symbol"] == "BTCUSDT"
        return web.json_response(BYBIT_PAGE_2 if request.query.get("cursor") else BYBIT_PAGE_1)

    async with Loopback() as loop:
        loop.rest("/v5/market/risk-limit", risk_limit)
        loop.rest("/api/v5/public/instruments", OKX_INSTRUMENT)
        loop.rest("/api/v5/public/position-tiers", OKX_TIERS)
        endpoint = Endpoint(loop.ws_base, loop.http)
        settings = msgspec.structs.replace(
            Settings(), exchanges={**Settings().exchanges, "bybit": endpoint, "okx": endpoint}
        )
        tables = await refresh_tiers(settings, ["BTC"])
        assert any("tdMode=isolated" in r and "instFamily=BTC-USDT" in r for r in loop.requests)
    path = tmp_path / "tiers.toml"
    merge_tiers_file(path, tables, "2026-11-25")
    loaded = load_tier_tables(path)
    bybit = loaded.table("bybit", "BTC")
    assert [t.notional_cap for t in bybit.tiers] == [2e6, 4e6]
    assert bybit.tiers[1].maint_amount == 10_000 and bybit.date == "2026-11-25"
    assert bybit.source.startswith("GET http://127.0.0.1")
    okx = loaded.table("okx", "BTC")
    assert okx.cap_unit == "base" and [t.notional_cap for t in okx.tiers] == [200.0, 400.0]
    # 300 BTC on OKX is tier 2 (0.6% + fee); 40 BTC is tier 1.
    big = liquidation_price("okx", "long", 100_000, 20, quantity=300, tiers=okx)
    assert big == pytest.approx(95_000 / (1 - 0.0065))
    # Refreshing again keeps the other markets already in the file.
    merge_tiers_file(path, [dict(tables[0], symbol="ETH")], "2026-11-26")
    again = load_tier_tables(path)
    assert again.table("bybit", "ETH").date == "2026-11-26"
    assert again.table("okx", "BTC").cap_unit == "base"


def test_cli_refresh_tiers_writes_the_tiers_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def fake_refresh(settings: Settings, markets: list[str]) -> list[dict[str, object]]:
        return [{"exchange": "bybit", "symbol": m, "cap_unit": "usd", "url": "http://x",
                 "tiers": [[1e6, 100.0, 0.006, 0.0]]} for m in markets]  # fmt: skip

    monkeypatch.setattr(calibrate, "refresh_tiers", fake_refresh)
    target = tmp_path / "tiers.toml"
    settings = msgspec.structs.replace(
        Settings(), model=msgspec.structs.replace(Settings().model, tiers_file=str(target))
    )
    args = build_parser().parse_args(["calibrate", "--refresh-tiers", "--symbol", "SOL"])
    out = io.StringIO()
    assert calibrate.main(settings, args, out=out) == 0
    assert "wrote 1 tier tables (SOL)" in out.getvalue()
    assert engine_from_settings(settings).tiers.table("bybit", "SOL").tiers[0].mmr == 0.006


@pytest.mark.parametrize("content", [b"", b"not a recording\n"])
def test_cli_calibrate_on_an_empty_or_garbage_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes
) -> None:
    from liqtui.cli import main

    rec = tmp_path / "empty.jsonl"
    rec.write_bytes(content)
    assert main(["calibrate", "--replay", str(rec)]) == 1
    err = capsys.readouterr().err
    lines = content.count(b"\n")
    skipped = f"({lines} line{'s' * (lines != 1)} skipped)"
    assert err == f"liqtui: error: {rec}: no recognised liqtui recording lines {skipped}\n"
