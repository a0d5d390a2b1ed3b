"""Settings: the shipped config.toml (documented defaults) < the user's config file < --config
FILE < command-line flags.

The user's file is $XDG_CONFIG_HOME/liqtui/config.toml (~/.config/liqtui/config.toml), or the
file named by $LIQTUI_CONFIG. Every key is checked: a bad file gives one ConfigError line naming
the file, the key and the problem.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from liqtui.events import EXCHANGES
from liqtui.markets import SymbolError, market_key
from liqtui.model.density import (
    FITTED,
    LEVERAGE_TIERS,
    OI_DECREASE_RULES,
    PRESETS,
    TIER_FILTERS,
    ModelParams,
)
from liqtui.resources import data_path


class ConfigError(Exception):
    """A one-line, user-facing description of a bad setting."""


_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}


def parse_duration(text: str) -> int:
    """'24h' → 86_400_000 ms. Units: ms, s, m, h, d, w."""
    match = _DURATION_RE.match(text) if isinstance(text, str) else None
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 15m, 24h or 30d")
    value = float(match.group(1)) * _UNIT_MS[match.group(2)]
    if value <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return int(value)


def _choice(*options: str) -> dict[str, Any]:
    return {"choices": options}


@dataclass(frozen=True)
class General:
    watchlist: list[str] = field(default_factory=lambda: ["BTC", "ETH", "SOL"])
    theme: str = "liqtui-dark"
    fps: float = field(default=4.0, metadata={"min": 0.2, "max": 30.0})
    themes_dir: str = ""
    color: str = field(default="auto", metadata=_choice("auto", "truecolor", "256", "16", "none"))
    view: str = field(
        default="ladder", metadata=_choice("ladder", "heatmap", "cascade", "exchanges", "chart")
    )
    color_scale: str = field(default="relative", metadata=_choice("relative", "absolute"))
    absolute_top_usd: float = field(default=10_000_000.0, metadata={"min": 1.0})
    screenshot_dir: str = ""


@dataclass(frozen=True)
class Model:
    # "fitted" is accepted too (the weights `liqtui calibrate --write` fitted), when set.
    preset: str = field(default="high", metadata={**_choice(*PRESETS), "also": (FITTED,)})
    tier_filter: str = field(default="all", metadata=_choice(*TIER_FILTERS))
    window: str = field(default="24h", metadata={"duration": True})
    bin_pct: float = field(default=0.0005, metadata={"min": 0.00001, "max": 0.01})
    span_pct: float = field(default=0.35, metadata={"min": 0.05, "max": 0.9})
    step: str = field(default="1m", metadata={"duration": True})
    half_life: str = field(default="auto", metadata={"duration": True, "auto": True})
    imbalance_k: float = field(default=0.5, metadata={"min": 0.0, "max": 2.0})
    funding_tilt: float = field(default=0.05, metadata={"min": 0.0, "max": 0.3})
    entry_points: int = field(default=8, metadata={"min": 1, "max": 64})
    oi_decrease: str = field(default="side-aware", metadata=_choice(*OI_DECREASE_RULES))
    position_usd: float = field(default=10_000.0, metadata={"min": 1.0})
    history_rows: int = field(default=96, metadata={"min": 8, "max": 1440})
    history_bin_pct: float = field(default=0.0025, metadata={"min": 0.0001, "max": 0.05})
    tiers_file: str = ""
    rho: float = field(default=0.0, metadata={"min": 0.0})
    calibrated_preset: str = field(default="", metadata=_choice("", *PRESETS, FITTED))
    calibrated_on: str = ""
    fitted_weights: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Ladder:
    span_pct: float = field(default=0.08, metadata={"min": 0.002, "max": 0.35})
    realized_mark_usd: float = field(default=100_000.0, metadata={"min": 0.0})


@dataclass(frozen=True)
class Replay:
    speed: str = "1"  # a multiple of real time, or "max"
    max_gap: str = field(default="5s", metadata={"duration": True})


@dataclass(frozen=True)
class Demo:
    seed: int = field(default=0, metadata={"min": 0})
    speed: float = field(default=1.0, metadata={"min": 0.1, "max": 1000.0})
    warmup: str = field(default="6h", metadata={"duration": True})


@dataclass(frozen=True)
class Feeds:
    exchanges: list[str] = field(default_factory=lambda: list(EXCHANGES))
    oi_poll: str = field(default="10s", metadata={"duration": True})
    depth_poll: str = field(default="15s", metadata={"duration": True})
    stale_after: str = field(default="60s", metadata={"duration": True})
    reconnect_initial: str = field(default="500ms", metadata={"duration": True})
    reconnect_max: str = field(default="30s", metadata={"duration": True})
    renew_after: str = field(default="23h", metadata={"duration": True})
    # Subscriptions per WebSocket connection (Binance allows 200 streams on one).
    streams_per_connection: int = field(default=100, metadata={"min": 1, "max": 200})
    # Share of each exchange's documented REST rate limit liqtui may use (the rest: headroom).
    rest_share: float = field(default=0.5, metadata={"min": 0.05, "max": 0.9})


@dataclass(frozen=True)
class Alerts:
    enabled: bool = True
    bell: bool = True
    realized_usd_per_min: float = field(default=0.0, metadata={"min": 0.0})
    dense_zone_usd: float = field(default=0.0, metadata={"min": 0.0})
    dense_zone_pct: float = field(default=0.002, metadata={"min": 0.0001, "max": 0.05})
    cascade: bool = True
    command: list[str] = field(default_factory=list)
    min_interval: str = field(default="60s", metadata={"duration": True})


@dataclass(frozen=True)
class Endpoint:
    """Base URLs of one exchange's public API (override for testnets, proxies and tests)."""

    ws_url: str
    rest_url: str


DEFAULT_ENDPOINTS: dict[str, Endpoint] = {
    "binance": Endpoint("wss://fstream.binance.com/market", "https://fapi.binance.com"),
    "bybit": Endpoint("wss://stream.bybit.com/v5/public/linear", "https://api.bybit.com"),
    "okx": Endpoint("wss://ws.okx.com:8443/ws/v5/public", "https://www.okx.com"),
    "hyperliquid": Endpoint("wss://api.hyperliquid.xyz/ws", "https://api.hyperliquid.xyz"),
}


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
    exchanges: dict[str, Endpoint] = field(default_factory=lambda: dict(DEFAULT_ENDPOINTS))
    files: tuple[str, ...] = ()  # the files these settings came from, lowest precedence first

    def model_params(self, window_ms: int | None = None) -> ModelParams:
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
        if name not in DEFAULT_ENDPOINTS:
            known = ", ".join(DEFAULT_ENDPOINTS)
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


def _convert(value: Any, f: dataclasses.Field[Any], where: str) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    meta = f.metadata
    if kind == "list[float]":
        ok = isinstance(value, list) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v >= 0 for v in value
        )
        if not ok:
            raise ConfigError(f"{where}: expected a list of numbers >= 0")
        if f.name == "fitted_weights" and value and len(value) != len(LEVERAGE_TIERS):
            tiers = "/".join(f"{t}x" for t in LEVERAGE_TIERS)
            raise ConfigError(f"{where}: expected {len(LEVERAGE_TIERS)} weights ({tiers})")
        return [float(v) for v in value]
    if kind == "list[str]":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of strings")
        if f.name == "exchanges":
            unknown = [v for v in value if v not in EXCHANGES]
            if unknown:
                raise ConfigError(
                    f"{where}: unknown exchange {unknown[0]!r} ({', '.join(EXCHANGES)})"
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
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{where}: expected a whole number, got {value!r}")
    elif kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        value = float(value)
        if value != value:
            raise ConfigError(f"{where}: expected a number, got nan")
    elif kind == "str":
        if isinstance(value, (int, float)) and not isinstance(value, bool) and f.name == "speed":
            value = str(value)
        if not isinstance(value, str):
            raise ConfigError(f"{where}: expected a string, got {value!r}")
        if "choices" in meta and value not in (*meta["choices"], *meta.get("also", ())):
            raise ConfigError(f"{where}: {value!r} is not one of {', '.join(meta['choices'])}")
        if meta.get("duration") and not (meta.get("auto") and value == "auto"):
            try:
                parse_duration(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
        if f.name == "speed":
            try:
                parse_speed(value)
            except ValueError as exc:
                raise ConfigError(f"{where}: {exc}") from None
    if "min" in meta and value < meta["min"]:
        raise ConfigError(f"{where}: {value!r} is below the minimum {meta['min']}")
    if "max" in meta and value > meta["max"]:
        raise ConfigError(f"{where}: {value!r} is above the maximum {meta['max']}")
    return value


def parse_speed(text: str) -> float | None:
    """'max' → None (as fast as possible); '10' → 10.0."""
    if text.strip().lower() == "max":
        return None
    try:
        speed = float(text)
    except ValueError:
        raise ValueError(f"speed {text!r} is not a number or 'max'") from None
    if not speed > 0 or speed == float("inf"):
        raise ValueError(f"speed {text!r} must be a positive number or 'max'")
    return speed


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
            from liqtui.ui.keymap import check_keymap

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
            changes[key] = _convert(value, fields[key], f"{path}: {name}.{key}")
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
