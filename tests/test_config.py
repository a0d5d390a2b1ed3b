"""Settings: shipped defaults, precedence, and one-line errors naming file, key and problem."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from liqtui.config import (
    ConfigError,
    Settings,
    load_settings,
    parse_duration,
    user_config_path,
)
from liqtui.resources import data_path


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("LIQTUI_CONFIG", raising=False)


def test_shipped_config_documents_every_option_with_the_code_defaults() -> None:
    shipped = tomllib.loads(data_path("config.toml").read_text())
    defaults = Settings()
    for section in ("general", "model", "ladder", "replay", "demo", "feeds"):
        fields = {f.name for f in dataclasses.fields(getattr(defaults, section))}
        assert set(shipped[section]) == fields, section
        for key, value in shipped[section].items():
            assert getattr(getattr(defaults, section), key) == value, f"{section}.{key}"
    assert set(shipped["exchanges"]) == set(defaults.exchanges)
    for name, endpoint in defaults.exchanges.items():
        assert shipped["exchanges"][name] == {
            "ws_url": endpoint.ws_url,
            "rest_url": endpoint.rest_url,
        }


def test_exchange_urls_are_settable(tmp_path: Path) -> None:
    path = tmp_path / "urls.toml"
    path.write_text('[exchanges.bybit]\nws_url = "ws://127.0.0.1:9999/v5/public/linear/"\n')
    s = load_settings(path)
    assert s.exchanges["bybit"].ws_url == "ws://127.0.0.1:9999/v5/public/linear"
    assert s.exchanges["bybit"].rest_url == "https://api.bybit.com"
    assert s.exchanges["okx"].ws_url.startswith("wss://")


def test_precedence_shipped_then_user_then_config_file(tmp_path: Path) -> None:
    user = tmp_path / "xdg" / "liqtui" / "config.toml"
    user.parent.mkdir(parents=True)
    user.write_text(
        '[general]\nwatchlist = ["eth", "SOLUSDT"]\nfps = 2\n[model]\npreset = "balanced"\n'
    )
    explicit = tmp_path / "explicit.toml"
    explicit.write_text('[model]\npreset = "observed-low"\n')
    assert user_config_path() == user
    s = load_settings()
    assert s.general.watchlist == ["ETH", "SOL"] and s.general.fps == 2.0
    assert s.model.preset == "balanced"
    s = load_settings(explicit)
    assert s.model.preset == "observed-low" and s.general.fps == 2.0
    assert s.files[-2:] == (str(user), str(explicit))


def test_liqtui_config_env_names_the_user_file(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    custom = tmp_path / "mine.toml"
    custom.write_text("[ladder]\nspan_pct = 0.05\n")
    monkeypatch.setenv("LIQTUI_CONFIG", str(custom))
    assert load_settings().ladder.span_pct == 0.05


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[model]\npreset = "yolo"\n', "model.preset: 'yolo' is not one of high, balanced"),
        ("[general]\nfps = 0\n", "general.fps: 0.0 is below the minimum 0.2"),
        ('[general]\nfps = "fast"\n', "general.fps: expected a number"),
        ("[general]\nwatchlist = []\n", "general.watchlist: the watchlist needs at least one"),
        ('[general]\nwatchlist = ["BTC/USD"]\n', "general.watchlist: 'BTC/USD': only USDT"),
        ('[model]\nwindow = "forever"\n', "model.window: 'forever' is not a duration"),
        ("[model]\nentry_points = 2.5\n", "model.entry_points: expected a whole number"),
        ('[replay]\nspeed = "-3"\n', "replay.speed: speed '-3' must be a positive number"),
        ("[model]\nbogus = 1\n", "unknown key model.bogus"),
        ("[colours]\nx = 1\n", "unknown section [colours]"),
        ("general = 3\n", "general must be a table"),
        ('[exchanges.kraken]\nws_url = "wss://x"\n', "unknown exchange [exchanges.kraken]"),
        ('[exchanges.okx]\nws_url = "https://x"\n', "exchanges.okx.ws_url: expected a URL"),
        ('[exchanges.okx]\nproxy = "x"\n', "unknown key exchanges.okx.proxy"),
        ('[feeds]\nexchanges = ["bitmex"]\n', "feeds.exchanges: unknown exchange 'bitmex'"),
        ("[general\nfps = 1\n", "invalid TOML"),
    ],
)
def test_bad_config_is_one_clear_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_settings(path)
    message = str(info.value)
    assert message.startswith(str(path)) and expected in message
    assert "\n" not in message


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "ms"), [("90s", 90_000), ("15m", 900_000), ("24h", 86_400_000), ("30d", 2_592_000_000),
                     ("500ms", 500), ("1.5h", 5_400_000)],
)  # fmt: skip
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "10", "1y", "-5m", "0s", "h"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)
