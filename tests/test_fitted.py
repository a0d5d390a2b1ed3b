"""The fitted-parameters file (liqtui.fitted): written per market, read by every engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from liqtui.config import Settings, load_settings
from liqtui.fitted import FittedFileError, MarketFit, fitted_path, load_fits, write_fit
from liqtui.model.engine import engine_from_settings
from liqtui.presets import DEFAULT_HALF_LIFE_MS, DEFAULT_TURNOVER

DAY = 86_400_000


def test_write_keeps_other_markets_and_loads_back(tmp_path: Path) -> None:
    path = tmp_path / "state" / "fitted.toml"
    btc = MarketFit(2 * DAY, 0.02, (0.0, 0.2, 0.3, 0.3, 0.2, 0.0), "1h", "dev set, OOS 0.47")
    write_fit(path, "BTC", btc)
    write_fit(path, "eth", MarketFit(half_life_ms=6 * 3_600_000))
    fits = load_fits(path)
    assert fits["BTC"] == btc
    assert fits["ETH"] == MarketFit(half_life_ms=6 * 3_600_000)
    write_fit(path, "BTC", MarketFit(half_life_ms=DAY))  # a new fit replaces the market's table
    assert load_fits(path)["BTC"] == MarketFit(half_life_ms=DAY)
    assert "ETH" in load_fits(path)


def test_no_file_is_no_fit_and_the_default_path_is_the_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert fitted_path() == tmp_path / "liqtui" / "fitted.toml"
    assert fitted_path("~/x.toml") == Path("~/x.toml").expanduser()
    assert load_fits(tmp_path / "none.toml") == {}


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[BTC]\nhalf_life = 'soon'\n", "half_life"),
        ("[BTC]\nhalf_life = '1s'\n", "10m to 365d"),
        ("[BTC]\nleverage_weights = [1, 2]\n", "leverage_weights must be 6"),
        ("[BTC]\nleverage_weights = [0, 0, 0, 0, 0, 0]\n", "not all 0"),
        ("[BTC]\nmystery = 1\n", "unknown key 'mystery'"),
        ("[BTC]\nturnover = 2\n", "turnover must be"),
        ("BTC = 3\n", "must be a table"),
        ("[BTC\n", "fitted.toml"),
    ],
)
def test_a_broken_file_says_what_is_wrong(tmp_path: Path, text: str, problem: str) -> None:
    path = tmp_path / "fitted.toml"
    path.write_text(text)
    with pytest.raises(FittedFileError, match=problem):
        load_fits(path)


def test_engines_from_settings_load_the_fit_and_the_config_still_overrides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "fitted.toml"
    fit = MarketFit(half_life_ms=2 * DAY, turnover=0.2, leverage_weights=(1, 0, 0, 0, 0, 0))
    write_fit(path, "BTC", fit)
    config = tmp_path / "config.toml"
    config.write_text(f'[model]\nfitted_file = "{path}"\n')
    engine = engine_from_settings(load_settings(config))
    assert engine.params_for("BTC").half_life == 2 * DAY
    assert engine.params_for("BTC").turnover_per_hour == 0.2
    assert engine.params_for("ETH").turnover_per_hour == DEFAULT_TURNOVER
    assert engine.params_for("ETH").half_life == DEFAULT_HALF_LIFE_MS
    assert engine.fitted_for("BTC") == (1.0, 0, 0, 0, 0, 0)
    config.write_text(f'[model]\nfitted_file = "{path}"\nhalf_life = "3h"\nturnover = 0\n')
    fixed = engine_from_settings(load_settings(config)).params_for("BTC")
    assert fixed.half_life == 3 * 3_600_000 and fixed.turnover_per_hour == 0.0
    path.write_text("[BTC]\nhalf_life = 'never'\n")  # broken: a warning, and no fit
    broken = engine_from_settings(load_settings(config))
    assert broken.fits == {}
    assert "warning" in capsys.readouterr().err
    assert engine_from_settings(Settings()).fits == {}  # no file in the (test's) state dir
