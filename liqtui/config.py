"""Settings: the shipped config.toml (documented defaults) < the user's config file < --config
FILE < command-line flags.

The user's file is $XDG_CONFIG_HOME/liqtui/config.toml (~/.config/liqtui/config.toml), or the
file named by $LIQTUI_CONFIG. Every key is checked: a bad file gives one ConfigError line naming
the file, the key and the problem.
"""

from __future__ import annotations

import dataclasses
import math
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from liqtui import exchanges as registry
from liqtui.durations import format_duration, parse_duration
from liqtui.markets import SymbolError, market_key
from liqtui.model.presets import (
    FITTED,
    LEVERAGE_TIERS,
    OI_DECREASE_RULES,
    PRESETS,
    TIER_FILTERS,
)
from liqtui.resources import data_path

if TYPE_CHECKING:
    from liqtui.model.density import ModelParams


class ConfigError(Exception):
    """A one-line, user-facing description of a bad setting."""


def _number(x: float) -> str:
    """1e12 → '1e12', 30 → '30', 0.0001 → '0.0001' (as TOML would accept them)."""
    short = f"{x:.0e}".replace("e+0", "e").replace("e+", "e")
    if abs(x) >= 1e6 and float(short) == x:
        return short
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


@dataclass(frozen=True)
class Range:
    """The values a numeric setting accepts, both ends included. For a duration the ends are
    in milliseconds and the setting is written like "90s"."""

    lo: float
    hi: float
    kind: Literal["number", "whole", "duration"] = "number"
    words: tuple[str, ...] = ()  # accepted instead of a number ("auto", "max")

    def show(self, x: float) -> str:
        if self.kind == "duration":
            return format_duration(int(x))
        return str(int(x)) if self.kind == "whole" else _number(x)

    def __str__(self) -> str:
        span = f"{self.show(self.lo)} to {self.show(self.hi)}"
        return ", or ".join((span, *self.words))

    def check(self, value: float, shown: str) -> None:
        """Raise ValueError (a user-facing phrase) unless `value` is finite and in range."""
        if not math.isfinite(value):
            raise ValueError(f"{shown} is not a finite number (allowed: {self})")
        if value < self.lo:
            raise ValueError(f"{shown} is below the minimum {self.show(self.lo)} (allowed: {self})")
        if value > self.hi:
            raise ValueError(f"{shown} is above the maximum {self.show(self.hi)} (allowed: {self})")

    def parse(self, text: str) -> int | float | str:
        """A value as written on the command line or in a TOML string: one of `words`, or
        the number (milliseconds for a duration), checked."""
        if text.strip().lower() in self.words:
            return text.strip().lower()
        value: int | float
        try:
            if self.kind == "duration":
                value = parse_duration(text)
            elif self.kind == "whole":
                value = int(text)
            else:
                value = float(text)
        except ValueError as exc:
            what = {"number": "a number", "whole": "a whole number"}.get(self.kind)
            problem = f"{text!r} is not {what}" if what else str(exc)
            raise ValueError(f"{problem} (allowed: {self})") from None
        self.check(value, repr(text))
        return value


def _ms(text: str) -> int:
    return parse_duration(text)


# The allowed range of every numeric setting, and of the command-line flags that set the same
# things (--fps, --speed, --window, --seed) or only exist as flags (snapshot.*, calibrate.*).
# Why the ends are where they are:
# - polls and reconnects stay within what the exchanges tolerate before they throttle or ban
#   an IP (Binance: 2,400 REST weight a minute, 300 connection attempts per 5 minutes);
# - model sizes bound the memory per market (history: rows x 12 x cells x 4 bytes, at most
#   about 40 MB; grid: at most 18,000 bins) and the work per step;
# - a step under 1 s or a warm-up over 7 d only burns CPU.
RANGES: dict[str, Range] = {
    "general.fps": Range(0.2, 30),
    "general.absolute_top_usd": Range(1, 1e12),
    # Long windows are for replays of old recordings; memory follows the prints, not the window.
    "model.window": Range(_ms("1m"), _ms("36500d"), "duration"),
    "model.bin_pct": Range(0.0001, 0.01),
    "model.span_pct": Range(0.05, 0.9),
    "model.step": Range(_ms("1s"), _ms("1h"), "duration"),
    "model.half_life": Range(_ms("10m"), _ms("365d"), "duration", words=("auto",)),
    "model.imbalance_k": Range(0, 2),
    "model.funding_tilt": Range(0, 0.3),
    "model.entry_points": Range(1, 64, "whole"),
    "model.position_usd": Range(1, 1e9),
    "model.history_rows": Range(8, 480, "whole"),
    "model.history_bin_pct": Range(0.001, 0.05),
    "model.rho": Range(0, 1000),
    "model.fitted_weights": Range(0, 1),  # each weight
    "ladder.span_pct": Range(0.002, 0.35),
    "ladder.realized_mark_usd": Range(0, 1e12),
    "replay.speed": Range(0.01, 100_000, words=("max",)),
    "replay.max_gap": Range(_ms("100ms"), _ms("1h"), "duration"),
    "demo.seed": Range(0, 2**32 - 1, "whole"),
    "demo.speed": Range(0.1, 1000),
    "demo.warmup": Range(_ms("1m"), _ms("7d"), "duration"),
    "feeds.oi_poll": Range(_ms("5s"), _ms("1h"), "duration"),
    "feeds.depth_poll": Range(_ms("10s"), _ms("1h"), "duration"),
    "feeds.stale_after": Range(_ms("10s"), _ms("1h"), "duration"),
    "feeds.reconnect_initial": Range(_ms("250ms"), _ms("1m"), "duration"),
    "feeds.reconnect_max": Range(_ms("5s"), _ms("1h"), "duration"),
    "feeds.renew_after": Range(_ms("10m"), _ms("24h"), "duration"),
    "feeds.streams_per_connection": Range(1, 200, "whole"),
    "feeds.rest_share": Range(0.05, 0.9),
    "alerts.realized_usd_per_min": Range(0, 1e12),
    "alerts.dense_zone_usd": Range(0, 1e12),
    "alerts.dense_zone_pct": Range(0.0001, 0.05),
    "alerts.min_interval": Range(_ms("1s"), _ms("1d"), "duration"),
    # Command-line only.
    "snapshot.width": Range(20, 1000, "whole"),
    "snapshot.height": Range(5, 1000, "whole"),
    "snapshot.wait": Range(0.1, 3600),  # seconds
    "snapshot.every": Range(_ms("100ms"), _ms("1d"), "duration"),
    "snapshot.count": Range(1, 1_000_000_000, "whole"),
    "calibrate.window": Range(_ms("1m"), _ms("7d"), "duration"),
    "calibrate.warmup": Range(_ms("1s"), _ms("30d"), "duration"),
    "calibrate.duration": Range(_ms("1h"), _ms("30d"), "duration"),
    "calibrate.cell_pct": Range(0.0005, 0.05),
    "calibrate.band": Range(0.01, 0.5),
}


def _choice(*options: str) -> dict[str, Any]:
    return {"choices": options}


@dataclass(frozen=True)
class General:
    watchlist: list[str] = field(default_factory=lambda: ["BTC", "ETH", "SOL"])
    theme: str = "liqtui-dark"
    fps: float = 4.0
    themes_dir: str = ""
    color: str = field(default="auto", metadata=_choice("auto", "truecolor", "256", "16", "none"))
    view: str = field(
        default="ladder", metadata=_choice("ladder", "heatmap", "cascade", "exchanges", "chart")
    )
    color_scale: str = field(default="relative", metadata=_choice("relative", "absolute"))
    absolute_top_usd: float = 10_000_000.0
    screenshot_dir: str = ""


@dataclass(frozen=True)
class Model:
    # "fitted" is accepted too (the weights `liqtui calibrate --write` fitted), when set.
    preset: str = field(default="high", metadata={**_choice(*PRESETS), "also": (FITTED,)})
    tier_filter: str = field(default="all", metadata=_choice(*TIER_FILTERS))
    window: str = "24h"
    bin_pct: float = 0.0005
    span_pct: float = 0.35
    step: str = "1m"
    half_life: str = "auto"
    imbalance_k: float = 0.5
    funding_tilt: float = 0.05
    entry_points: int = 8
    oi_decrease: str = field(default="side-aware", metadata=_choice(*OI_DECREASE_RULES))
    position_usd: float = 10_000.0
    history_rows: int = 96
    history_bin_pct: float = 0.0025
    tiers_file: str = ""
    rho: float = 0.0
    calibrated_preset: str = field(default="", metadata=_choice("", *PRESETS, FITTED))
    calibrated_on: str = ""
    fitted_weights: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Ladder:
    span_pct: float = 0.08
    realized_mark_usd: float = 100_000.0


@dataclass(frozen=True)
class Replay:
    speed: str = "1"  # a multiple of real time, or "max"
    max_gap: str = "5s"


@dataclass(frozen=True)
class Demo:
    seed: int = 0
    speed: float = 1.0
    warmup: str = "6h"


@dataclass(frozen=True)
class Feeds:
    exchanges: list[str] = field(default_factory=lambda: list(registry.ids()))
    oi_poll: str = "10s"
    depth_poll: str = "15s"
    stale_after: str = "60s"
    reconnect_initial: str = "500ms"
    reconnect_max: str = "30s"
    renew_after: str = "23h"
    # Subscriptions per WebSocket connection (Binance allows 200 streams on one).
    streams_per_connection: int = 100
    # Share of each exchange's documented REST rate limit liqtui may use (the rest: headroom).
    rest_share: float = 0.5


@dataclass(frozen=True)
class Alerts:
    enabled: bool = True
    bell: bool = True
    realized_usd_per_min: float = 0.0
    dense_zone_usd: float = 0.0
    dense_zone_pct: float = 0.002
    cascade: bool = True
    command: list[str] = field(default_factory=list)
    min_interval: str = "60s"


@dataclass(frozen=True)
class Endpoint:
    """Base URLs of one exchange's public API (override for testnets, proxies and tests)."""

    ws_url: str
    rest_url: str


def default_endpoints() -> dict[str, Endpoint]:
    """Every registered exchange's public endpoints (liqtui.exchanges)."""
    return {spec.id: Endpoint(spec.ws_url, spec.rest_url) for spec in registry.specs()}


@dataclass(frozen=True)
class Settings:
    general: General = field(default_factory=General)
    model: Model = field(default_factory=Model)
    ladder: Ladder = field(default_factory=Ladder)
    replay: Replay = field(default_factory=Replay)
    demo: Demo = field(default_factory=Demo)
    feeds: Feeds = field(default_factory=Feeds)
    alerts: Alerts = field(default_factory=Alerts)
    keys: dict[str, str] = field(default_factory=dict)  # binding id → keys ([keys])
    exchanges: dict[str, Endpoint] = field(default_factory=default_endpoints)
    files: tuple[str, ...] = ()  # the files these settings came from, lowest precedence first

    def model_params(self, window_ms: int | None = None) -> ModelParams:
        from liqtui.model.density import ModelParams  # numpy: not needed to read settings

        m = self.model
        return ModelParams(
            bin_pct=m.bin_pct,
            span_pct=m.span_pct,
            step_ms=parse_duration(m.step),
            half_life_ms=0 if m.half_life == "auto" else parse_duration(m.half_life),
            imbalance_k=m.imbalance_k,
            funding_tilt=m.funding_tilt,
            entry_points=m.entry_points,
            oi_decrease=m.oi_decrease,
            window_ms=window_ms or parse_duration(m.window),
            history_rows=m.history_rows,
            history_bin_pct=m.history_bin_pct,
            position_usd=m.position_usd,
        )

    def tiers_path(self) -> Path:
        """The refreshed tier tables (liqtui calibrate --refresh-tiers write them)."""
        if self.model.tiers_file:
            return Path(self.model.tiers_file).expanduser()
        return user_config_path().parent / "tiers.toml"


SECTIONS = {
    f.name: f.type
    for f in dataclasses.fields(Settings)
    if f.name not in ("files", "exchanges", "keys")
}
_URL_SCHEMES = {"ws_url": ("ws://", "wss://"), "rest_url": ("http://", "https://")}


def _apply_exchanges(
    current: dict[str, Endpoint], body: dict[str, Any], path: Path | str
) -> dict[str, Endpoint]:
    out = dict(current)
    for name, table in body.items():
        if name not in registry.ids():
            known = ", ".join(registry.ids())
            raise ConfigError(f"{path}: unknown exchange [exchanges.{name}] (known: {known})")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: exchanges.{name} must be a table")
        changes: dict[str, str] = {}
        for key, value in table.items():
            where = f"{path}: exchanges.{name}.{key}"
            if key not in _URL_SCHEMES:
                raise ConfigError(f"{path}: unknown key exchanges.{name}.{key} (ws_url, rest_url)")
            if not isinstance(value, str) or not value.startswith(_URL_SCHEMES[key]):
                schemes = " or ".join(_URL_SCHEMES[key])
                raise ConfigError(f"{where}: expected a URL starting with {schemes}")
            changes[key] = value.rstrip("/")
        out[name] = dataclasses.replace(out[name], **changes)
    return out


def _type_name(f: dataclasses.Field[Any]) -> str:
    return f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _convert_ranged(value: Any, kind: str, rng: Range) -> Any:
    """A numeric setting checked against its range; raises ValueError (the problem)."""
    if kind == "list[float]":  # each item in range (model.fitted_weights)
        if not isinstance(value, list):
            raise ValueError(f"expected a list of numbers (allowed for each: {rng})")
        for i, item in enumerate(value):
            if not _is_number(item):
                raise ValueError(f"item {i + 1}: {item!r} is not a number (allowed: {rng})")
            try:
                rng.check(float(item), repr(item))
            except ValueError as exc:
                raise ValueError(f"item {i + 1}: {exc}") from None
        return [float(v) for v in value]
    if isinstance(value, str) and kind == "str":  # a duration, or a number written as text
        parsed = rng.parse(value)
        return parsed if isinstance(parsed, str) else value  # a word ("auto") in lower case
    if rng.kind == "duration":
        raise ValueError(f'expected a duration like "90s", got {value!r} (allowed: {rng})')
    if rng.kind == "whole" and (isinstance(value, bool) or not isinstance(value, int)):
        raise ValueError(f"expected a whole number, got {value!r} (allowed: {rng})")
    if not _is_number(value):
        raise ValueError(f"expected a number, got {value!r} (allowed: {rng})")
    rng.check(float(value), repr(value))
    if kind == "str":  # replay.speed = 10: kept as the text "10"
        return str(value)
    return float(value) if kind == "float" else value


def _convert(value: Any, f: dataclasses.Field[Any], key: str, where: str) -> Any:
    """A setting's value from TOML, checked; `key` is "section.name"."""
    kind = _type_name(f)
    meta = f.metadata
    rng = RANGES.get(key)
    if rng is not None:
        try:
            value = _convert_ranged(value, kind, rng)
        except ValueError as exc:
            raise ConfigError(f"{where}: {exc}") from None
        if f.name == "fitted_weights" and value and len(value) != len(LEVERAGE_TIERS):
            tiers = "/".join(f"{t}x" for t in LEVERAGE_TIERS)
            raise ConfigError(f"{where}: expected {len(LEVERAGE_TIERS)} weights ({tiers})")
        return value
    if kind == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings")
        if f.name == "exchanges":
            unknown = [v for v in value if v not in registry.ids()]
            if unknown:
                raise ConfigError(
                    f"{where}: unknown exchange {unknown[0]!r} ({', '.join(registry.ids())})"
                )
        if f.name == "watchlist":
            if not value:
                raise ConfigError(f"{where}: the watchlist needs at least one market")
            try:
                value = [market_key(v) for v in value]
            except SymbolError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        return list(value)
    if kind == "bool":
        if not isinstance(value, bool):
            raise ConfigError(f"{where}: expected true or false, got {value!r}")
        return value
    if kind != "str":  # every numeric setting has a range (tests/test_config.py checks)
        raise TypeError(f"{key}: no range declared in RANGES")
    if not isinstance(value, str):
        raise ConfigError(f"{where}: expected a string, got {value!r}")
    accepted = (*meta.get("choices", ()), *meta.get("also", ()))
    if accepted and value not in accepted:
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(accepted)}")
    return value


def choices(key: str) -> tuple[str, ...]:
    """The words a setting accepts ("general.view" → ladder, heatmap, ...), for --help."""
    section, name = key.split(".")
    fields = {f.name: f for f in dataclasses.fields(getattr(Settings(), section))}
    meta = fields[name].metadata
    return (*meta["choices"], *meta.get("also", ()))


def parse_speed(text: str) -> float | None:
    """'max' → None (as fast as possible); '10' → 10.0, within replay.speed's range."""
    value = RANGES["replay.speed"].parse(text)
    return None if value == "max" else float(value)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: is a directory, not a config file") from None
    except PermissionError:
        raise ConfigError(f"{path}: permission denied") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a UTF-8 text file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None


def apply_file(settings: Settings, data: dict[str, Any], path: Path | str) -> Settings:
    """Overlay one parsed TOML document on `settings`, checking every key."""
    sections: dict[str, Any] = {}
    for name, body in data.items():
        if name == "exchanges" and isinstance(body, dict):
            sections[name] = _apply_exchanges(settings.exchanges, body, path)
            continue
        if name == "keys" and isinstance(body, dict):
            from liqtui.keys import check_keymap

            problem = check_keymap(body)
            if problem:
                raise ConfigError(f"{path}: {problem}")
            sections[name] = {**settings.keys, **body}
            continue
        if name not in SECTIONS:
            raise ConfigError(f"{path}: unknown section [{name}] (known: {', '.join(SECTIONS)})")
        if not isinstance(body, dict):
            raise ConfigError(f"{path}: {name} must be a table ([{name}])")
        current = getattr(settings, name)
        fields = {f.name: f for f in dataclasses.fields(current)}
        changes = {}
        for key, value in body.items():
            if key not in fields:
                raise ConfigError(f"{path}: unknown key {name}.{key} (known: {', '.join(fields)})")
            changes[key] = _convert(value, fields[key], f"{name}.{key}", f"{path}: {name}.{key}")
        sections[name] = dataclasses.replace(current, **changes)
    return dataclasses.replace(settings, files=(*settings.files, str(path)), **sections)


def user_config_path() -> Path:
    env = os.environ.get("LIQTUI_CONFIG")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "liqtui" / "config.toml"


def user_themes_dir(settings: Settings) -> Path:
    if settings.general.themes_dir:
        return Path(settings.general.themes_dir).expanduser()
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "liqtui" / "themes"


def load_settings(config_file: str | Path | None = None) -> Settings:
    """Defaults from the shipped config.toml, then the user's file, then `config_file`."""
    defaults = data_path("config.toml")
    settings = apply_file(Settings(), _read_toml(defaults), defaults)
    user = user_config_path()
    if user.is_file() or os.environ.get("LIQTUI_CONFIG"):
        settings = apply_file(settings, _read_toml(user), user)
    if config_file is not None:
        path = Path(config_file)
        settings = apply_file(settings, _read_toml(path), path)
    if settings.model.preset == FITTED and not settings.model.fitted_weights:
        where = settings.files[-1] if settings.files else "config"
        raise ConfigError(
            f"{where}: model.preset 'fitted' needs model.fitted_weights (liqtui calibrate --write)"
        )
    return settings
