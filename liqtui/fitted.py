"""Fitted model parameters per market: the file `liqtui calibrate --fit --write` writes and
every engine (live, snapshot, record, replay, calibrate) reads.

The file is `$XDG_STATE_HOME/liqtui/fitted.toml` (usually ~/.local/state/liqtui/fitted.toml),
or `[model] fitted_file`. It is state, not configuration: written by a program, one table per
market, each table what one fit found (`docs/model.md`, "Fitted parameters"):

    [BTC]
    half_life = "2d"                       # decay half-life of E
    turnover = 0.01                        # share of OI changing hands per hour
    leverage_weights = [0.0, 0.3, ...]     # one weight per LEVERAGE_TIERS (2x … 100x), sum 1
    bar = "1h"                             # the bar size the fit scored on
    fitted_on = "2026-12-08: …"            # source, dates, out-of-sample score

The config still wins: an explicit `[model] half_life` or `turnover` overrides the fitted one,
and `preset` picks the leverage mix ("fitted" is the market's fitted mix).
"""

from __future__ import annotations

import math
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from liqtui.durations import format_duration, parse_duration
from liqtui.presets import LEVERAGE_TIERS

FITTED_FILE = "fitted.toml"
# A half-life outside this is a broken file, not a fit (the fit's grid is well inside it).
MIN_HALF_LIFE_MS, MAX_HALF_LIFE_MS = 600_000, 365 * 86_400_000


class FittedFileError(ValueError):
    """The fitted-parameters file cannot be read (one line: the file and what is wrong)."""


@dataclass(frozen=True, slots=True)
class MarketFit:
    """What a fit found for one market (None: not fitted, the default applies)."""

    half_life_ms: int | None = None
    turnover: float | None = None  # share of open interest changing hands per hour
    leverage_weights: tuple[float, ...] | None = None  # per LEVERAGE_TIERS, summing to 1
    bar: str = ""  # the bar size it was scored on ("1h")
    fitted_on: str = ""  # where and when, and the out-of-sample score


def fitted_path(configured: str = "") -> Path:
    """`configured` ([model] fitted_file) when set, else $XDG_STATE_HOME/liqtui/fitted.toml
    (an empty or relative $XDG_STATE_HOME is ignored, as the XDG spec says)."""
    if configured:
        return Path(configured).expanduser()
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if state and os.path.isabs(state) else Path.home() / ".local" / "state"
    return base / "liqtui" / FITTED_FILE


def _market(symbol: str, body: Any, where: str) -> MarketFit:
    if not isinstance(body, dict):
        raise FittedFileError(f"{where}: [{symbol}] must be a table")
    unknown = set(body) - {"half_life", "turnover", "leverage_weights", "bar", "fitted_on"}
    if unknown:
        raise FittedFileError(f"{where}: [{symbol}] unknown key {sorted(unknown)[0]!r}")
    half_life = None
    if "half_life" in body:
        try:
            half_life = parse_duration(body["half_life"])
        except ValueError as exc:
            raise FittedFileError(f"{where}: [{symbol}] half_life: {exc}") from None
        if not MIN_HALF_LIFE_MS <= half_life <= MAX_HALF_LIFE_MS:
            raise FittedFileError(f"{where}: [{symbol}] half_life must be 10m to 365d")
    turnover = None
    if "turnover" in body:
        t = body["turnover"]
        if not isinstance(t, int | float) or not 0 <= t <= 1:
            raise FittedFileError(f"{where}: [{symbol}] turnover must be a number, 0 to 1")
        turnover = float(t)
    weights = None
    if "leverage_weights" in body:
        raw = body["leverage_weights"]
        if (
            not isinstance(raw, list)
            or len(raw) != len(LEVERAGE_TIERS)
            or not all(isinstance(w, int | float) and math.isfinite(w) and w >= 0 for w in raw)
            or sum(raw) <= 0
        ):
            tiers = ", ".join(f"{t}x" for t in LEVERAGE_TIERS)
            raise FittedFileError(
                f"{where}: [{symbol}] leverage_weights must be {len(LEVERAGE_TIERS)} "
                f"non-negative numbers, not all 0 (for {tiers})"
            )
        total = float(sum(raw))
        weights = tuple(float(w) / total for w in raw)
    return MarketFit(
        half_life_ms=half_life,
        turnover=turnover,
        leverage_weights=weights,
        bar=str(body.get("bar", "")),
        fitted_on=str(body.get("fitted_on", "")),
    )


def load_fits(path: Path) -> dict[str, MarketFit]:
    """Market → fit from the file; {} when there is no file. FittedFileError when it is broken."""
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise FittedFileError(f"{path}: {exc}") from None
    return {symbol.upper(): _market(symbol, body, str(path)) for symbol, body in data.items()}


def write_fit(path: Path, symbol: str, fit: MarketFit) -> None:
    """Set one market's table in the file (other markets are kept), atomically."""
    import tomlkit

    from liqtui.files import write_atomic

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    doc = tomlkit.parse(text) if text else tomlkit.document()
    if not text:
        doc.add(tomlkit.comment("Model parameters per market: liqtui calibrate --fit --write"))
        doc.add(tomlkit.comment("(docs/model.md, 'Fitted parameters'). The config overrides."))
        doc.add(tomlkit.nl())
    table = tomlkit.table()
    if fit.half_life_ms is not None:
        table["half_life"] = format_duration(fit.half_life_ms)
    if fit.turnover is not None:
        table["turnover"] = fit.turnover
    if fit.leverage_weights is not None:
        table["leverage_weights"] = [round(w, 4) for w in fit.leverage_weights]
    if fit.bar:
        table["bar"] = fit.bar
    if fit.fitted_on:
        table["fitted_on"] = fit.fitted_on
    doc[symbol.upper()] = table
    out = tomlkit.dumps(doc)
    load_fits_text(out, str(path))  # never write a file that would not load
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, out)


def load_fits_text(text: str, where: str) -> dict[str, MarketFit]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise FittedFileError(f"{where}: {exc}") from None
    return {symbol.upper(): _market(symbol, body, where) for symbol, body in data.items()}
