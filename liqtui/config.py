"""Settings: the shipped config.toml (documented defaults) < the user's config file < --config
FILE < command-line flags.

The user's file is $XDG_CONFIG_HOME/liqtui/config.toml (~/.config/liqtui/config.toml), or the
file named by $LIQTUI_CONFIG. Every key is checked: a bad file gives one ConfigError line naming
the file, the key and the problem.

Every setting is declared once, below, as a field of a typed msgspec Struct: its type, its
default, the words it accepts and its range (`Annotated[float, _range(0.2, 30)]`, a
`msgspec.Meta(ge=..., le=...)` that also carries the `Range` shown in messages and --help).
`msgspec.convert` checks a file against the declarations (types, ranges, words, unknown keys);
its error's path (`$.model.window`) is turned into the one-line message naming the key. What
msgspec cannot check itself (durations and numbers written as text, market names, the number of
fitted weights) is checked by a `finish` step declared on the same field. RANGES, `choices()`
and `--help` read the declarations (msgspec.json.schema could make a JSON schema of them).

Why msgspec: one small C extension with no dependencies of its own, quick to import (this module
is imported by `--help` and by every headless snapshot, so start-up time matters), and typed
conversion, range constraints and JSON-schema generation all come from the same declarations.
pydantic is much heavier to import; attrs + cattrs is two packages for the same.
"""

from __future__ import annotations

import math
import os
import re
import sys
import tomllib
from dataclasses import dataclass
from functools import cache, partial
from pathlib import Path
from typing import Annotated, Any, Literal, get_args, get_origin

import msgspec
from msgspec import Meta, Struct, field
from msgspec.structs import replace

from liqtui import exchanges as registry
from liqtui.durations import format_duration, parse_duration
from liqtui.keys import VIEWS
from liqtui.markets import market_key
from liqtui.presets import (
    FITTED,
    LEVERAGE_TIERS,
    OI_DECREASE_RULES,
    PRESETS,
    TIER_FILTERS,
)
from liqtui.resources import data_path


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


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _convert_ranged(value: Any, kind: str, rng: Range) -> Any:
    """A numeric setting checked against its range; raises ValueError (the problem). `kind`:
    "float", "int", "str" (a duration, or a number or word written as text) or "list[float]"
    (each item in range). msgspec checks the same ranges; this gives the message."""
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


# -- how the fields below are declared --------------------------------------------------------
# Each helper returns the msgspec.Meta of one field. Its `extra` carries what liqtui adds:
# "range" (a Range, for messages, --help and RANGES), "choices" (the words accepted),
# "problem" (the message when msgspec refuses the value) and "finish" (a check or conversion
# msgspec cannot do, applied to the value as written in the file; raises ValueError).


class NumberText(str):
    """A number (or a word like "max") kept as text; a TOML number is accepted as its text."""


def _dec_hook(cls: type, value: Any) -> Any:
    """msgspec's conversion of liqtui's own types (NumberText) from TOML values."""
    if cls is NumberText and (isinstance(value, str) or _is_number(value)):
        return NumberText(value)
    raise TypeError(f"expected {cls.__name__}")


def _range(lo: float, hi: float) -> Meta:
    """A number, `lo` to `hi`: msgspec checks it (nan is refused as below the minimum)."""
    return Meta(ge=lo, le=hi, extra={"range": Range(lo, hi)})


def _whole(lo: int, hi: int) -> Meta:
    """A whole number, `lo` to `hi`."""
    return Meta(ge=lo, le=hi, extra={"range": Range(lo, hi, "whole")})


def _text_range(rng: Range) -> Meta:
    """A value written as text (a duration, or a number or word): msgspec checks it is text,
    the finish step its form and range."""
    return Meta(extra={"range": rng, "finish": partial(_convert_ranged, kind="str", rng=rng)})


def _duration(lo: str, hi: str, *words: str) -> Meta:
    """A duration like "90s", `lo` to `hi`, or one of `words`."""
    return _text_range(Range(_ms(lo), _ms(hi), "duration", words))


def _one_of(*words: str, problem: str = "{value!r} is not one of {choices}") -> Meta:
    """Text that is one of `words`."""
    pattern = "^(" + "|".join(re.escape(w) for w in words) + ")$"
    return Meta(pattern=pattern, extra={"choices": words, "problem": problem})


def _no_trailing_slash(url: str) -> str:
    return url.rstrip("/")


def _url(*schemes: str) -> Meta:
    """A base URL starting with one of `schemes`; a trailing slash is dropped."""
    pattern = "^(" + "|".join(re.escape(s) for s in schemes) + ")"
    problem = f"expected a URL starting with {' or '.join(schemes)}"
    return Meta(pattern=pattern, extra={"problem": problem, "finish": _no_trailing_slash})


def _markets(names: list[str]) -> list[str]:
    return [market_key(name) for name in names]  # SymbolError is a ValueError


def _known_exchanges(names: list[str]) -> list[str]:
    known = registry.ids()
    for name in names:
        if name not in known:
            raise ValueError(f"unknown exchange {name!r} ({', '.join(known)})")
    return names


def _weights(weights: list[float]) -> list[float]:
    if weights and len(weights) != len(LEVERAGE_TIERS):
        tiers = "/".join(f"{t}x" for t in LEVERAGE_TIERS)
        raise ValueError(f"expected {len(LEVERAGE_TIERS)} weights ({tiers})")
    return [float(w) for w in weights]


# -- the settings -----------------------------------------------------------------------------
# The documented defaults are config.toml (shipped, applied first); tests/test_config.py checks
# that it lists every key below with the same default and states each range.


class _Table(Struct, frozen=True, forbid_unknown_fields=True):
    """A table of settings: immutable (msgspec.structs.replace makes a changed copy). Each
    subclass says frozen=True again for mypy."""


class General(_Table, frozen=True):
    watchlist: Annotated[
        list[str],
        Meta(
            min_length=1,
            extra={"problem": "the watchlist needs at least one market", "finish": _markets},
        ),
    ] = field(default_factory=lambda: ["BTC", "ETH", "SOL"])
    theme: str = "liqtui-dark"
    fps: Annotated[float, _range(0.2, 30)] = 4.0
    themes_dir: str = ""
    color: Annotated[str, _one_of("auto", "truecolor", "256", "16", "none")] = "auto"
    view: Annotated[str, _one_of(*VIEWS)] = "ladder"  # liqtui.keys: the one list of views
    color_scale: Annotated[str, _one_of("relative", "absolute")] = "relative"
    lookback: Annotated[str, _one_of("auto", "12h", "24h", "3d", "7d", "30d")] = "auto"
    absolute_top_usd: Annotated[float, _range(1, 1e12)] = 10_000_000.0
    screenshot_dir: str = ""


class Model(_Table, frozen=True):
    # "fitted": the weights `liqtui calibrate --write` fitted (load_settings checks they exist).
    preset: Annotated[str, _one_of(*PRESETS, FITTED)] = "high"
    tier_filter: Annotated[str, _one_of(*TIER_FILTERS)] = "all"
    # Long windows are for replays of old recordings; memory follows the prints, not the window.
    window: Annotated[str, _duration("1m", "36500d")] = "24h"
    bin_pct: Annotated[float, _range(0.0001, 0.01)] = 0.0005
    span_pct: Annotated[float, _range(0.05, 0.9)] = 0.35
    step: Annotated[str, _duration("1s", "1h")] = "1m"  # under 1s only burns CPU
    half_life: Annotated[str, _duration("10m", "365d", "auto")] = "auto"
    # Share of open interest changing hands per hour (closed, reopened at the price), or
    # "auto": the market's fit, else the default (docs/model.md "Fitted parameters").
    turnover: Annotated[NumberText, _text_range(Range(0, 1, words=("auto",)))] = NumberText("auto")
    imbalance_k: Annotated[float, _range(0, 2)] = 0.5
    entry_points: Annotated[int, _whole(1, 64)] = 8
    oi_decrease: Annotated[str, _one_of(*OI_DECREASE_RULES)] = "side-aware"
    position_usd: Annotated[float, _range(1, 1e9)] = 10_000.0
    # Model sizes bound the memory per market (history: rows x 12 x cells x 4 bytes, at most
    # about 40 MB; grid: at most 18,000 bins) and the work per step.
    history_rows: Annotated[int, _whole(8, 480)] = 96
    history_bin_pct: Annotated[float, _range(0.001, 0.05)] = 0.0025
    tiers_file: str = ""
    rho: Annotated[float, _range(0, 1000)] = 0.0
    # The share of estimated notional the risk figures treat as forced (R_X, W_crit, the
    # scenarios). Never taken from `rho` above: that one is measured on throttled feeds.
    risk_rho: Annotated[float, _range(0.001, 10)] = 1.0
    calibrated_preset: Annotated[str, _one_of("", *PRESETS, FITTED)] = ""
    calibrated_on: str = ""
    fitted_weights: Annotated[
        list[Annotated[float, _range(0, 1)]], Meta(extra={"finish": _weights})
    ] = field(default_factory=list)
    # Fitted parameters per market (liqtui.fitted); "": $XDG_STATE_HOME/liqtui/fitted.toml.
    fitted_file: str = ""


class Ladder(_Table, frozen=True):
    span_pct: Annotated[float, _range(0.002, 0.35)] = 0.08
    realized_mark_usd: Annotated[float, _range(0, 1e12)] = 100_000.0


class Tape(_Table, frozen=True):
    """[tape]: the liquidation tape (the tape view and `liqtui tape`)."""

    min_usd: Annotated[float, _range(0, 1e12)] = 0.0
    large_usd: Annotated[float, _range(0, 1e12)] = 100_000.0


class Replay(_Table, frozen=True):
    # A multiple of real time, or "max".
    speed: Annotated[NumberText, _text_range(Range(0.01, 100_000, words=("max",)))] = NumberText(
        "1"
    )
    max_gap: Annotated[str, _duration("100ms", "1h")] = "5s"


class Demo(_Table, frozen=True):
    seed: Annotated[int, _whole(0, 2**32 - 1)] = 0
    speed: Annotated[float, _range(0.1, 1000)] = 1.0
    warmup: Annotated[str, _duration("1m", "7d")] = "6h"  # a warm-up over 7d only burns CPU


class Feeds(_Table, frozen=True):
    # Checked when read, not declared: an exchange registered later is known too.
    exchanges: Annotated[list[str], Meta(extra={"finish": _known_exchanges})] = field(
        default_factory=lambda: list(registry.ids())
    )
    # Polls and reconnects stay within what the exchanges tolerate before they throttle or ban
    # an IP (Binance: 2,400 REST weight a minute, 300 connection attempts per 5 minutes).
    oi_poll: Annotated[str, _duration("5s", "1h")] = "10s"
    depth_poll: Annotated[str, _duration("10s", "1h")] = "15s"
    stale_after: Annotated[str, _duration("10s", "1h")] = "60s"
    reconnect_initial: Annotated[str, _duration("250ms", "1m")] = "500ms"
    reconnect_max: Annotated[str, _duration("5s", "1h")] = "30s"
    renew_after: Annotated[str, _duration("10m", "24h")] = "23h"
    # Subscriptions per WebSocket connection (Binance allows 200 streams on one).
    streams_per_connection: Annotated[int, _whole(1, 200)] = 100
    # Share of each exchange's documented REST rate limit liqtui may use (the rest: headroom).
    rest_share: Annotated[float, _range(0.05, 0.9)] = 0.5
    # History fetched from the exchanges' public REST APIs on a live start (only what the local
    # store lacks; capped by what each exchange keeps). "0s": none.
    backfill: Annotated[str, _duration("1m", "365d", "0s")] = "7d"


class Alerts(_Table, frozen=True):
    enabled: bool = True
    bell: bool = True
    realized_usd_per_min: Annotated[float, _range(0, 1e12)] = 0.0
    dense_zone_usd: Annotated[float, _range(0, 1e12)] = 0.0
    dense_zone_pct: Annotated[float, _range(0.0001, 0.05)] = 0.002
    cascade: bool = True
    command: list[str] = field(default_factory=list)
    min_interval: Annotated[str, _duration("1s", "1d")] = "60s"


class StoreSettings(_Table, frozen=True):
    """[store]: the local store of what liqtui collects (liqtui.store)."""

    dir: str = ""  # "": $XDG_STATE_HOME/liqtui (usually ~/.local/state/liqtui)
    retention: Annotated[str, _duration("1h", "3650d")] = "30d"


class Endpoint(_Table, frozen=True):
    """Base URLs of one exchange's public API (override for testnets, proxies and tests)."""

    ws_url: Annotated[str, _url("ws://", "wss://")]
    rest_url: Annotated[str, _url("http://", "https://")]


def default_endpoints() -> dict[str, Endpoint]:
    """Every registered exchange's public endpoints (liqtui.exchanges)."""
    return {spec.id: Endpoint(spec.ws_url, spec.rest_url) for spec in registry.specs()}


class Settings(Struct, frozen=True, forbid_unknown_fields=True):
    general: General = field(default_factory=General)
    model: Model = field(default_factory=Model)
    ladder: Ladder = field(default_factory=Ladder)
    tape: Tape = field(default_factory=Tape)
    replay: Replay = field(default_factory=Replay)
    demo: Demo = field(default_factory=Demo)
    feeds: Feeds = field(default_factory=Feeds)
    alerts: Alerts = field(default_factory=Alerts)
    store: StoreSettings = field(default_factory=StoreSettings)
    keys: dict[str, str] = field(default_factory=dict)  # binding id → keys ([keys])
    exchanges: dict[str, Endpoint] = field(default_factory=default_endpoints)
    files: tuple[str, ...] = ()  # the files these settings came from, lowest precedence first

    def tiers_path(self) -> Path:
        """The refreshed tier tables (liqtui calibrate --refresh-tiers write them)."""
        if self.model.tiers_file:
            return Path(self.model.tiers_file).expanduser()
        return user_config_path().parent / "tiers.toml"


# -- reading the declarations -----------------------------------------------------------------


@cache
def _fields(cls: type[Struct]) -> dict[str, Any]:
    """Field name → its declared type (with the Annotated metadata)."""
    return {f.name: f.type for f in msgspec.structs.fields(cls)}


SECTIONS: dict[str, type[Struct]] = {
    name: tp for name, tp in _fields(Settings).items() if name not in ("files", "exchanges", "keys")
}


def _base(tp: Any) -> Any:
    """float for Annotated[float, ...]."""
    return get_args(tp)[0] if get_origin(tp) is Annotated else tp


def _extra(tp: Any, name: str) -> Any:
    """The value `name` in the extra of the field's Meta (None if not declared)."""
    for meta in get_args(tp)[1:] if get_origin(tp) is Annotated else ():
        if isinstance(meta, Meta) and meta.extra and name in meta.extra:
            return meta.extra[name]
    return None


def _item(tp: Any) -> Any:
    """The declared type of a list's items (None if `tp` is not a list)."""
    base = _base(tp)
    return get_args(base)[0] if get_origin(base) is list else None


def _ranged(tp: Any) -> tuple[str, Range] | None:
    """(kind for _convert_ranged, range) of a ranged field."""
    rng = _extra(tp, "range")
    if rng is not None:
        base = _base(tp)
        return ("str" if issubclass(base, str) else base.__name__), rng
    item = _item(tp)
    if item is not None and _extra(item, "range") is not None:
        return "list[float]", _extra(item, "range")
    return None


# Ranges of the command-line flags that set nothing in the config (snapshot.*, calibrate.*).
_FLAG_RANGES: dict[str, Range] = {
    "snapshot.width": Range(20, 1000, "whole"),
    "snapshot.height": Range(5, 1000, "whole"),
    "snapshot.wait": Range(0.1, 3600),  # seconds
    "snapshot.every": Range(_ms("100ms"), _ms("1d"), "duration"),
    "snapshot.count": Range(1, 1_000_000_000, "whole"),
    "calibrate.window": Range(_ms("1m"), _ms("7d"), "duration"),
    "calibrate.warmup": Range(_ms("1s"), _ms("30d"), "duration"),
    "calibrate.train": Range(0.2, 0.9),
    "calibrate.duration": Range(_ms("1h"), _ms("30d"), "duration"),
}

# The allowed range of every numeric setting ("model.window" → 1m to 36500d), declared on the
# fields above, and of the command-line flags that set the same things (--fps, --speed,
# --window, --seed) or only exist as flags.
RANGES: dict[str, Range] = {
    **{
        f"{section}.{name}": ranged[1]
        for section, cls in SECTIONS.items()
        for name, tp in _fields(cls).items()
        if (ranged := _ranged(tp)) is not None
    },
    **_FLAG_RANGES,
}


def choices(key: str) -> tuple[str, ...]:
    """The words a setting accepts ("general.view" → ladder, heatmap, ...), for --help."""
    section, name = key.split(".")
    words: tuple[str, ...] = _extra(_fields(SECTIONS[section])[name], "choices")
    return words


# -- checking a file --------------------------------------------------------------------------


def _value_problem(tp: Any, value: Any, index: int | None) -> str | None:
    """Why msgspec refused `value` for a field declared as `tp` (None: no better words)."""
    ranged = _ranged(tp)
    if ranged is not None:
        try:
            _convert_ranged(value, *ranged)
        except ValueError as exc:
            return str(exc)
        return None
    base, item = _base(tp), _item(tp)
    if base is bool:
        return f"expected true or false, got {value!r}"
    if item is not None:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            return "expected a list of strings"
        if index is not None and index < len(value):
            return _value_problem(item, value[index], None)
    problem = _extra(tp, "problem")
    words = _extra(tp, "choices") or ()
    if item is None and not isinstance(value, str) and (words or not problem):
        return f"expected a string, got {value!r}"
    return problem.format(value=value, choices=", ".join(words)) if problem else None


_AT = re.compile(r" - at `\$(?P<path>[^`]*)`$")


def _split(exc: msgspec.ValidationError, doc: dict[str, Any]) -> tuple[str, str]:
    """("Expected `float` >= 0.2", ".general.fps") from msgspec's error about `doc`."""
    what = str(exc)
    at = _AT.search(what)
    what, path = (what[: at.start()], at["path"]) if at else (what, "")
    if path.startswith(".exchanges[...]"):  # msgspec does not name the key of a dict
        for name, table in doc["exchanges"].items():
            try:
                msgspec.convert(table, Endpoint)
            except msgspec.ValidationError as inner:
                what, path = _split(inner, table)
                return what, f".exchanges.{name}{path}"
    return what, path


def _problem(exc: msgspec.ValidationError, doc: dict[str, Any]) -> str:
    """msgspec's error ("Expected `float` >= 0.2 - at `$.general.fps`") as liqtui's message
    ("general.fps: 0 is below the minimum 0.2 (allowed: 0.2 to 30)"); `doc` is what was
    converted."""
    what, path = _split(exc, doc)
    names: list[str] = re.findall(r"\.([^.\[]+)", path)
    index = re.search(r"\[(\d+)\]", path)
    # The table the error is in: a section, or one exchange's endpoints.
    depth = 2 if len(names) > 1 and names[0] == "exchanges" else 1
    table, rest = ".".join(names[:depth]), names[depth:]
    cls = Endpoint if depth == 2 else SECTIONS.get(table)
    body: Any = doc
    for name in names[:depth]:
        body = body.get(name) if isinstance(body, dict) else None
    unknown = re.search(r"unknown field `([^`]*)`", what)
    if cls is not None and unknown and not rest:
        known = ", ".join(_fields(cls))
        return f"unknown key {table}.{unknown[1]} ({known if depth == 2 else 'known: ' + known})"
    if table and not rest and what.startswith("Expected `object`"):
        return f"{table} must be a table" + ("" if depth == 2 else f" ([{table}])")
    if cls is not None and rest and isinstance(body, dict) and rest[0] in body:
        tp = _fields(cls)[rest[0]]
        problem = _value_problem(tp, body[rest[0]], int(index[1]) if index else None)
        if problem:
            return f"{table}.{rest[0]}: {problem}"
    return f"{'.'.join(names)}: {what}" if names else what


def _overlay(base: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
    """`data` over `base`, table by table: a file needs only the keys it changes."""
    out = dict(base)
    for key, value in data.items():
        old = out.get(key)
        if isinstance(old, dict) and isinstance(value, dict):
            value = _overlay(old, value)
        out[key] = value
    return out


def _finish(table: Struct, body: dict[str, Any], where: str) -> Struct:
    """The `finish` steps of the keys `body` (a table as written in the file) sets."""
    fields = _fields(type(table))
    changes = {}
    for key, value in body.items():
        finish = _extra(fields[key], "finish")
        if finish is not None:
            try:
                changes[key] = finish(value)
            except ValueError as exc:
                raise ConfigError(f"{where}.{key}: {exc}") from None
    return replace(table, **changes) if changes else table


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


def _tables_problem(data: dict[str, Any]) -> str | None:
    """The tables msgspec would not name well: unknown sections and exchanges, [keys] ids."""
    for name, body in data.items():
        if name not in SECTIONS and not (name in ("exchanges", "keys") and isinstance(body, dict)):
            return f"unknown section [{name}] (known: {', '.join(SECTIONS)})"
    for name in data.get("exchanges", {}):
        if name not in registry.ids():
            known = ", ".join(registry.ids())
            return f"unknown exchange [exchanges.{name}] (known: {known})"
    if "keys" in data:
        from liqtui.keys import check_keymap

        return check_keymap(data["keys"])
    return None


# Keys earlier versions read and this one no longer does: a config that still sets one loads,
# with one warning line (key → why it went).
REMOVED_KEYS: dict[tuple[str, str], str] = {
    ("model", "funding_tilt"): "the funding tilt moved the map's score on real data by "
    "±0.001 and was dropped (docs/model.md, 'Fitted parameters')",
}


def _drop_removed(data: dict[str, Any], path: Path | str) -> dict[str, Any]:
    """`data` without the keys in REMOVED_KEYS, each one said on stderr."""
    out = dict(data)
    for (section, key), why in REMOVED_KEYS.items():
        body = out.get(section)
        if isinstance(body, dict) and key in body:
            out[section] = {k: v for k, v in body.items() if k != key}
            print(f"liqtui: warning: {path}: {section}.{key} is ignored: {why}", file=sys.stderr)
    return out


def apply_file(settings: Settings, data: dict[str, Any], path: Path | str) -> Settings:
    """Overlay one parsed TOML document on `settings`, checking every key."""
    data = _drop_removed(data, path)
    problem = _tables_problem(data)
    if problem:
        raise ConfigError(f"{path}: {problem}")
    doc = _overlay(msgspec.to_builtins(settings, enc_hook=str), data)
    try:
        new = msgspec.convert(doc, Settings, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{path}: {_problem(exc, doc)}") from None
    changes: dict[str, Any] = {"files": (*settings.files, str(path))}
    for name, body in data.items():
        if name in SECTIONS:
            changes[name] = _finish(getattr(new, name), body, f"{path}: {name}")
        elif name == "exchanges":
            changes[name] = {
                exchange: _finish(endpoint, body.get(exchange, {}), f"{path}: {name}.{exchange}")
                for exchange, endpoint in new.exchanges.items()
            }
    return replace(new, **changes)


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
    return settings
