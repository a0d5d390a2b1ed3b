"""`liqtui calibrate`: score the estimated map against realized prints (liqtui.model.calibrate
does the scoring), print the figures (text or JSON), --write ρ (and the fitted weights) into the
user's config, and --refresh-tiers: fetch tier tables (liqtui.feeds.tiers) into the tiers file.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from liqtui.commands.common import DEMO_START_MS
from liqtui.feeds.tiers import refresh_tiers
from liqtui.model.calibrate import (
    DAY_MS,
    END_MAP_DISTANCES,
    HOUR_MS,
    CalibrationResult,
    Calibrator,
)
from liqtui.model.density import preset_weights
from liqtui.presets import FITTED, LEVERAGE_TIERS

if TYPE_CHECKING:
    from liqtui.config import Settings

MIN_PRINTS_TO_WRITE = 50


@dataclass(frozen=True, slots=True)
class CalibrateOptions:
    """`liqtui calibrate [flags]`."""

    preset: str  # --preset, else the config's
    replay: Path | None = None
    demo: bool = False
    symbols: tuple[str, ...] | None = None  # --symbol (None: every market in the source)
    tier_filter: str = "all"
    window_ms: int = HOUR_MS
    warmup_ms: int = DAY_MS
    cell_pct: float = 0.0025
    band: float = 0.10
    duration_ms: int = 3 * DAY_MS  # --demo: simulated time after the warm-up
    seed: int = 0
    fit_weights: bool = False
    write: bool = False
    format: str = "text"
    refresh_tiers: bool = False
    config: Path | None = None  # --config: where --write writes (None: the user's config)

    @classmethod
    def from_args(cls, args: argparse.Namespace, settings: Settings) -> CalibrateOptions:
        return cls(
            preset=args.preset or settings.model.preset,  # both checked: argparse, config
            replay=args.replay,
            demo=args.demo,
            symbols=tuple(args.symbol) if args.symbol else None,
            tier_filter=args.tier_filter,
            window_ms=args.window,
            warmup_ms=args.warmup,
            cell_pct=args.cell_pct,
            band=args.band,
            duration_ms=args.duration,
            seed=args.seed,
            fit_weights=args.fit_weights,
            write=args.write,
            format=args.format,
            refresh_tiers=args.refresh_tiers,
            config=args.config,
        )


def main(settings: Settings, args: argparse.Namespace, *, out: IO[str] | None = None) -> int:
    return run(CalibrateOptions.from_args(args, settings), settings, out=out)


def run(options: CalibrateOptions, settings: Settings, *, out: IO[str] | None = None) -> int:
    """`liqtui calibrate`: 0 ok; 1 nothing to compare (or not enough to write); 2 usage."""
    from liqtui.config import ConfigError, user_config_path
    from liqtui.model.engine import engine_from_settings

    out = out or sys.stdout
    if options.refresh_tiers:
        markets = list(options.symbols or ["BTC", "ETH"])
        when = datetime.now(UTC).strftime("%Y-%m-%d")
        tables = asyncio.run(refresh_tiers(settings, markets))
        path = settings.tiers_path()
        merge_tiers_file(path, tables, when)
        print(f"liqtui: wrote {len(tables)} tier tables ({', '.join(markets)}) to {path}", file=out)
        if options.replay is None and not options.demo:
            return 0
    if options.replay is None and not options.demo:
        print("liqtui: error: calibrate needs --replay FILE or --demo", file=sys.stderr)
        return 2
    preset = options.preset
    engine = engine_from_settings(settings, preset=preset)
    try:
        preset_weights(preset, options.tier_filter, engine.fitted_weights)
    except ValueError as exc:
        print(f"liqtui: error: preset {preset!r}: {exc}", file=sys.stderr)
        return 2
    cal = Calibrator(
        engine,
        preset=preset,
        tier_filter=options.tier_filter,
        window_ms=options.window_ms,
        cell_pct=options.cell_pct,
        band=options.band,
        warmup_ms=options.warmup_ms,
        symbols=options.symbols,
    )
    if options.demo:
        from liqtui.demo import DemoSource

        symbols = list(options.symbols or ["BTC"])
        source_name = f"demo simulator (synthetic), seed {options.seed}"
        total = options.warmup_ms + options.duration_ms  # in the demo's fast 30 s steps
        DemoSource(symbols, seed=options.seed, warmup_ms=total, start_ms=DEMO_START_MS).run_sync(
            cal
        )
    else:
        from liqtui.feeds.replay import ReplaySource

        assert options.replay is not None
        if not options.replay.is_file():
            print(f"liqtui: error: {options.replay}: no such recording", file=sys.stderr)
            return 2
        source_name = str(options.replay)
        replay = ReplaySource(options.replay, speed=None)
        replay.run_sync(cal)
        problem = replay.problem()
        if problem is not None:  # an empty or garbage file: say so, as snapshot does
            print(f"liqtui: error: {problem}", file=sys.stderr)
            return 1
    symbols = list(options.symbols or engine.symbols())
    if not symbols:
        print("liqtui: no markets in the source", file=sys.stderr)
        return 1
    results = [cal.result(s) for s in symbols]
    if options.format == "json":
        for res in results:
            out.write(json.dumps(result_json(res), allow_nan=False, default=str) + "\n")
    else:
        out.write("\n".join(format_result(res, source_name) for res in results))
    out.flush()
    comparable = [r for r in results if r.comparable]
    if options.write:
        if len(results) != 1:
            print("liqtui: --write needs exactly one --symbol", file=sys.stderr)
            return 2
        res = results[0]
        if not res.comparable:
            print(f"liqtui: not written: {res.not_comparable_reason}", file=sys.stderr)
            return 1
        if res.prints < MIN_PRINTS_TO_WRITE or res.model.rho is None:
            print(
                f"liqtui: not written: {res.prints} realized prints compared "
                f"(at least {MIN_PRINTS_TO_WRITE} needed)",
                file=sys.stderr,
            )
            return 1
        path = options.config if options.config else user_config_path()
        values = calibration_values(res, source_name, fitted=options.fit_weights)
        try:
            update_config(path, "model", values)
        except ConfigError as exc:
            print(f"liqtui: error: not written: {exc}", file=sys.stderr)
            return 2
        print(f"liqtui: wrote {', '.join(values)} to [model] in {path}", file=out)
    return 0 if comparable else 1


# -- output -------------------------------------------------------------------------------------


def _t(ms: int | None) -> str:
    return (
        "—" if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
    )


def _f(x: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def _usd(x: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"${x / size:.2f}{unit}"
    return f"${x:.0f}"


def format_result(res: CalibrationResult, source: str) -> str:
    span = ""
    if res.first_ms is not None and res.last_ms is not None:
        span = f" ({(res.last_ms - res.first_ms) / DAY_MS:.1f} d)"
    hours = res.window_ms / HOUR_MS
    lines = [
        f"liqtui calibrate: {source}, market {res.symbol}",
        f"replayed {_t(res.first_ms)} → {_t(res.last_ms)} UTC{span}; scored from "
        f"{_t(res.scored_from_ms)} (warm-up); windows {hours:g}h, cells {res.cell_pct * 100:g}% "
        f"of price, top-20% among cells within ±{res.band * 100:g}%",
    ]
    if res.exchanges:
        note = (
            f" (throttled feed: R is a lower bound, so is ρ: {', '.join(res.throttled)})"
            if res.throttled
            else ""
        )
        lines.append(f"compared: {', '.join(res.exchanges)}; {res.prints} realized prints{note}")
    else:
        lines.append(f"compared: nothing — {res.not_comparable_reason}")
    for ex, usd in sorted(res.excluded_realized_usd.items()):
        lines.append(f"  not compared: {ex} R {_usd(usd)} (no estimated map for it)")
    w = 38
    head = f"{'':<{w}}{'model (' + res.preset + ')':>18}{'naive ±1/L':>16}"
    lines += ["", head]
    rows = [
        ("rank corr C vs R, per cell", "rank_cells", "n_cells", "{:+.3f}"),
        ("rank corr ΣC vs ΣR, per window", "rank_windows", "n_windows", "{:+.3f}"),
    ]
    for label, attr, n_attr, fmt in rows:
        m, nv = res.model, res.naive
        lines.append(
            f"{label:<{w}}{_f(getattr(m, attr), fmt) + f' (n={getattr(m, n_attr)})':>18}"
            f"{_f(getattr(nv, attr), fmt) + f' (n={getattr(nv, n_attr)})':>16}"
        )
    lines.append(
        f"{'R share in top-20% cells before cross':<{w}}"
        f"{_f(res.model.top_share, '{:.1%}'):>18}{_f(res.naive.top_share, '{:.1%}'):>16}"
    )
    lines.append(
        f"{'ρ = ΣR/ΣC':<{w}}{_f(res.model.rho, '{:.4g}'):>18}{_f(res.naive.rho, '{:.4g}'):>16}"
    )
    m, nv = res.model, res.naive
    lines.append(f"{'ΣC (E, predicted consumption)':<{w}}{_usd(m.sum_c):>18}{_usd(nv.sum_c):>16}")
    lines.append(f"{'ΣR (R, realized)':<{w}}{_usd(m.sum_r):>18}{_usd(nv.sum_r):>16}")
    if not res.exchanges:
        lines.append(
            f"{'ΣC, every exchange (nothing to compare)':<{w}}"
            f"{_usd(res.model_c_all_exchanges_usd):>18}{_usd(res.naive_c_all_exchanges_usd):>16}"
        )
    if res.end_map:
        end = res.end_map
        for side, where in (("long", "below"), ("short", "above")):
            near = " / ".join(_usd(end[f"{side}_within_{x:g}"]) for x in END_MAP_DISTANCES)
            lines.append(
                f"E {side}s at the end ({res.preset}): {_usd(end[f'{side}_total'])}; within "
                f"1/2/5/10% {where} {end['price']:,.0f}: {near}"
            )
    if res.fit is not None:
        weights = " ".join(
            f"{t}x {v:.2f}" for t, v in zip(LEVERAGE_TIERS, res.fit.weights, strict=True)
        )
        lines += [
            "",
            f"fitted leverage weights (NNLS over {res.fit.n_cells} cells): {weights}",
            f"  with them: ρ {_f(res.fit.rho, '{:.4g}')}, rank corr per cell "
            f"{_f(res.fit.rank_cells, '{:+.3f}')} (in-sample)",
        ]
    if not res.comparable:
        lines += ["", f"not calibrated (ρ undefined): {res.not_comparable_reason}"]
    lines.append("E = estimated by the model, R = realized (exchange prints).")
    return "\n".join(lines) + "\n"


def result_json(res: CalibrationResult) -> dict[str, Any]:
    doc = asdict(res)
    doc["labels"] = {"C": "E (estimated consumption)", "R": "R (realized prints)"}
    doc["comparable"] = res.comparable
    return doc


# -- writing the user config --------------------------------------------------------------------


def update_config(path: Path, section: str, values: dict[str, object]) -> None:
    """Set keys of one section of a TOML config file, keeping everything else as it is: the
    file is edited as TOML (tomlkit), so comments, order, dotted keys (`model.rho = 0.3`) and
    inline tables survive. The result is checked (liqtui.config) and then replaces the file
    atomically; a file that would not load is never written, and a reader never sees half."""
    import tomlkit
    from tomlkit.exceptions import TOMLKitError

    from liqtui.config import ConfigError, Settings, apply_file
    from liqtui.files import write_atomic

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    try:
        doc = tomlkit.parse(text)
        if section not in doc:
            doc.add(section, tomlkit.table())
        table = doc[section]
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: {section} must be a table ([{section}])")
        for key, value in values.items():
            table[key] = value
        out = tomlkit.dumps(doc)
    except TOMLKitError as exc:
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    apply_file(Settings(), tomllib.loads(out), path)  # raises ConfigError if it would not load
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, out)


def calibration_values(res: CalibrationResult, source: str, *, fitted: bool) -> dict[str, object]:
    when = datetime.now(UTC).strftime("%Y-%m-%d")
    if fitted and res.fit is not None and res.fit.rho:
        note = (
            f"{when}: {source}, {res.symbol}, {res.prints} prints from {', '.join(res.exchanges)}, "
            f"fitted weights"
        )
        return {
            "preset": FITTED,
            "fitted_weights": [round(w, 6) for w in res.fit.weights],
            "rho": float(f"{res.fit.rho:.6g}"),
            "calibrated_preset": FITTED,
            "calibrated_on": note,
        }
    assert res.model.rho is not None
    note = f"{when}: {source}, {res.symbol}, {res.prints} prints from {', '.join(res.exchanges)}"
    return {
        "rho": float(f"{res.model.rho:.6g}"),
        "calibrated_preset": res.preset,
        "calibrated_on": note,
    }


def tiers_toml(tables: Sequence[dict[str, Any]], when: str) -> str:
    """A tiers file in the brackets.toml format (the refreshed tables, dated)."""
    import tomlkit

    doc = tomlkit.document()
    header = (
        "Tier tables fetched by `liqtui calibrate --refresh-tiers` (overrides the shipped ones)."
    )
    doc.add(tomlkit.comment(header))
    doc.add(tomlkit.nl())
    tables_out = tomlkit.aot()
    for t in tables:
        table = tomlkit.table()
        table["exchange"] = t["exchange"]
        table["symbol"] = t["symbol"]
        table["cap_unit"] = t["cap_unit"]
        table["source"] = "GET " + t["url"]
        table["date"] = when
        table["checked"] = when
        table["verified"] = True
        rows = tomlkit.array()
        rows.multiline(True)
        for row in t["tiers"]:
            rows.append([float(v) for v in row])  # a cap without end: inf
        table["tiers"] = rows
        tables_out.append(table)
    doc["table"] = tables_out
    return tomlkit.dumps(doc)


def merge_tiers_file(path: Path, tables: Sequence[dict[str, Any]], when: str) -> None:
    """Write the fetched tables into the tiers file, keeping other markets already in it."""
    from liqtui.files import write_atomic
    from liqtui.model.mechanics import parse_tier_tables

    keep: list[dict[str, Any]] = []
    if path.exists():
        with path.open("rb") as fh:
            old = tomllib.load(fh)
        fetched = {(t["exchange"], t["symbol"]) for t in tables}
        for t in old.get("table", []):
            if (t.get("exchange"), t.get("symbol")) not in fetched:
                src = str(t.get("source", ""))
                keep.append({**t, "url": src.removeprefix("GET ")})
    text = tiers_toml([*keep, *tables], when)
    parse_tier_tables(tomllib.loads(text), str(path))  # check before writing
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, text)
