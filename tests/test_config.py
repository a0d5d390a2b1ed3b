"""Settings: shipped defaults, precedence, and one-line errors naming file, key and problem."""

from __future__ import annotations

import math
import tomllib
from pathlib import Path
from typing import Annotated, Any, get_args, get_origin

import msgspec
import pytest

from liqtui.config import (
    RANGES,
    SECTIONS,
    ConfigError,
    Range,
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
    for section in SECTIONS:
        fields = {f.name for f in msgspec.structs.fields(getattr(defaults, section))}
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
        (
            '[model]\npreset = "yolo"\n',
            "model.preset: 'yolo' is not one of high, balanced, observed-low, fitted",
        ),
        ("[general]\nfps = 0\n", "general.fps: 0 is below the minimum 0.2 (allowed: 0.2 to 30)"),
        ('[general]\nfps = "fast"\n', "general.fps: expected a number, got 'fast' (allowed"),
        ("[general]\nwatchlist = []\n", "general.watchlist: the watchlist needs at least one"),
        ('[general]\nwatchlist = ["BTC/USD"]\n', "general.watchlist: 'BTC/USD': only USDT"),
        ('[model]\nwindow = "forever"\n', "model.window: 'forever' is not a duration"),
        ("[model]\nentry_points = 2.5\n", "model.entry_points: expected a whole number"),
        ('[replay]\nspeed = "-3"\n', "replay.speed: '-3' is below the minimum 0.01"),
        ('[replay]\nspeed = "fast"\n', "replay.speed: 'fast' is not a number (allowed: 0.01"),
        ("[model]\nturnover = 2\n", "model.turnover: 2 is above the maximum 1"),
        ('[model]\nstep = "0.1ms"\n', "model.step: '0.1ms' is shorter than 1ms (allowed: 1s"),
        ("[model]\nwindow = 5\n", 'model.window: expected a duration like "90s", got 5'),
        ("[model]\nfitted_weights = [0, 1, 2]\n", "model.fitted_weights: item 3: 2 is above"),
        ('[model]\nfitted_weights = [0, "x"]\n', "model.fitted_weights: item 2: 'x' is not a"),
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


def test_a_removed_key_is_ignored_with_one_warning(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    """A config written for an earlier version still loads: model.funding_tilt is gone."""
    path = tmp_path / "old.toml"
    path.write_text("[model]\nfunding_tilt = 0.05\nturnover = 0.01\n")
    settings = load_settings(path)
    assert (
        settings.model.turnover == "0.01"
    )  # the rest of the table still applies ("auto" or a share)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model.funding_tilt is ignored" in err[0] and str(path) in err[0]


def test_missing_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "ms"), [("90s", 90_000), ("15m", 900_000), ("24h", 86_400_000), ("30d", 2_592_000_000),
                     ("500ms", 500), ("1.5h", 5_400_000)],
)  # fmt: skip
def test_durations(text: str, ms: int) -> None:
    assert parse_duration(text) == ms


@pytest.mark.parametrize("text", ["", "10", "1y", "-5m", "0s", "h", "0.1ms", "9" * 400 + "d"])
def test_bad_durations(text: str) -> None:
    # Under 1 ms used to round to 0 and pass (model.step = "0.1ms" then divided by zero).
    with pytest.raises(ValueError):
        parse_duration(text)


# -- ranges: every numeric setting has one, and the config refuses values outside it ----------


def _type_name(tp: Any) -> str:
    """'float' for Annotated[float, Meta(...)], 'list[float]' for a list of those."""
    if get_origin(tp) is Annotated:
        return _type_name(get_args(tp)[0])
    if get_origin(tp) is list:
        return f"list[{_type_name(get_args(tp)[0])}]"
    return str(tp.__name__)


def _setting_fields() -> dict[str, str]:
    """The declared type's name of each "section.key"."""
    return {
        f"{section}.{f.name}": _type_name(f.type)
        for section in SECTIONS
        for f in msgspec.structs.fields(getattr(Settings(), section))
    }


def _default(key: str) -> object:
    section, name = key.split(".")
    return getattr(getattr(Settings(), section), name)


def _is_duration_text(value: object) -> bool:
    try:
        parse_duration(value)  # type: ignore[arg-type]
    except ValueError:
        return False
    return True


def test_every_numeric_setting_declares_a_range() -> None:
    fields = _setting_fields()
    numeric = {key for key, kind in fields.items() if kind in ("int", "float", "list[float]")}
    durations = {key for key in fields if _is_duration_text(_default(key))}
    durations.add("model.half_life")  # "auto" by default
    speeds = {key for key in fields if key.endswith(".speed")}  # replay.speed is text too
    texts = speeds | {"model.turnover"}  # a number or "auto", kept as text
    ranged = {key for key in RANGES if key.split(".")[0] in SECTIONS}
    assert numeric | durations | texts == ranged
    for key in durations:
        assert RANGES[key].kind == "duration", key
    for key, kind in fields.items():
        if kind == "int":
            assert RANGES[key].kind == "whole", key


def _within(rng: Range, value: object) -> None:
    if isinstance(value, list):
        for item in value:
            rng.check(float(item), repr(item))
    elif isinstance(value, str):
        rng.parse(value)
    else:
        assert isinstance(value, (int, float))
        rng.check(float(value), repr(value))


def test_shipped_defaults_are_within_range() -> None:
    from liqtui.cli import build_parser

    shipped = tomllib.loads(data_path("config.toml").read_text())
    for key, rng in RANGES.items():
        section, name = key.split(".")
        if section in SECTIONS:
            _within(rng, shipped[section][name])
            _within(rng, _default(key))
    # The command-line defaults too (snapshot.* and calibrate.* are flags only).
    parser = build_parser()
    snap = parser.parse_args(["snapshot"])
    cal = parser.parse_args(["calibrate"])
    for key, rng in RANGES.items():
        section, name = key.split(".")
        args = {"snapshot": snap, "calibrate": cal}.get(section)
        value = getattr(args, name) if args is not None else None
        if value is not None:
            rng.check(float(value), repr(value))


def test_shipped_config_documents_every_range() -> None:
    """Each ranged key's own comment in config.toml says its range."""
    lines = data_path("config.toml").read_text().splitlines()
    section = ""
    comment: list[str] = []
    seen = set()
    for line in lines:
        if line.startswith("["):
            section = line.strip("[]")
        elif line.startswith("#"):
            comment.append(line)
            continue
        elif "=" in line:
            key = f"{section}.{line.split('=')[0].strip()}"
            if key in RANGES:
                assert f"Range: {RANGES[key]}." in " ".join(comment) or (
                    f"Range (each weight): {RANGES[key]}." in " ".join(comment)
                ), key
                seen.add(key)
        comment = []
    assert seen == {key for key in RANGES if key.split(".")[0] in SECTIONS}


def _toml(value: object) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)  # -1, 5e-05, inf, nan: TOML numbers


def _bad_values(key: str, rng: Range) -> list[tuple[str, object]]:
    """(case, value) below the minimum, above the maximum and not finite, as TOML values."""
    lo, hi = rng.lo, rng.hi
    if rng.kind == "duration":
        return [
            ("below", f"{int(lo) - 1}ms"),
            ("above", f"{int(hi) + 1}ms"),
            ("not finite", "9" * 400 + "d"),
        ]
    if rng.kind == "whole":
        return [("below", int(lo) - 1), ("above", int(hi) + 1), ("not finite", math.inf)]
    cases: list[tuple[str, object]] = [
        ("below", lo / 2 if lo > 0 else -1.0),
        ("above", hi * 2),
        ("nan", math.nan),
        ("inf", math.inf),
    ]
    if key == "model.fitted_weights":  # a list: one bad weight among good ones
        return [(case, [0.5, value, 0.5, 0.0, 0.0, 0.0]) for case, value in cases]
    return cases


_BAD = [
    pytest.param(key, value, id=f"{key}-{case}")
    for key, rng in RANGES.items()
    if key.split(".")[0] in SECTIONS
    for case, value in _bad_values(key, rng)
]


@pytest.mark.parametrize(("key", "value"), _BAD)
def test_out_of_range_setting_exits_2_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str, value: object
) -> None:
    from liqtui.cli import main

    section, name = key.split(".")
    path = tmp_path / "bad.toml"
    path.write_text(f"[{section}]\n{name} = {_toml(value)}\n")
    assert main(["snapshot", "--demo", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1, err
    assert err.startswith(f"liqtui: error: {path}: {key}: ")
    assert f"(allowed: {RANGES[key]})" in err
    shown = tomllib.loads(f"v = {_toml(value)}")["v"]
    if isinstance(shown, list):
        shown = next(v for v in shown if v not in (0.0, 0.5))
    assert repr(shown) in err
