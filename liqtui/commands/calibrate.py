"""`liqtui calibrate`: score the estimated map against realized prints per window and side
(liqtui.model.calibrate collects, liqtui.model.scoring scores), print the figures (text, or JSON
with every scored window), --write ρ (and the fitted weights) into the user's config, saying so
when ρ comes from throttled feeds, and --refresh-tiers: fetch tier tables (liqtui.feeds.tiers)
into the tiers file.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
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
            duration_ms=args.duration,
            seed=args.seed,
            fit_weights=args.fit_weights,
            write=args.write,
            format=args.format,
            refresh_tiers=args.refresh_tiers,
            config=args.config,
        )


def main(settings: Settings, args: argparse.Namespace, *, out: IO[str] | None = None) -> int:
    if getattr(args, "fit", False):  # the parameter fit (issue 13): liqtui.commands.fit
        from liqtui.commands import fit

        return fit.main(settings, args, out=out)
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
    # The lookback rings of H (7 and 30 days, for the TUI's lookback) play no part in C or E
    # and cost a third of a long replay: calibrate runs without them.
    engine.params = dataclasses.replace(engine.params, lookback_rings=())
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
        if res.throttled:  # never silently: the snapshot scales E (and risk) by this ρ
            print(
                f"liqtui: note: ρ comes from throttled feeds ({', '.join(res.throttled)}): a lower "
                "bound; E and the risk figures scaled by it are understated",
                file=out,
            )
    return 0 if comparable else 1


# -- output -------------------------------------------------------------------------------------


def _t(ms: int | None) -> str:
    return (
        "—" if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
    )


def _f(x: float | None, fmt: str = "{:.3f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def _ci(ci: tuple[float, float] | None) -> str:
    return "n/a" if ci is None else f"{ci[0]:+.2f}…{ci[1]:+.2f}"


def _usd(x: float) -> str:
    for unit, size in (("B", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= size:
            return f"${x / size:.2f}{unit}"
    return f"${x:.0f}"


def rho_caveat(res: CalibrationResult) -> str:
    """Why ρ is not a scale to trust blindly (printed beside it, in the JSON too)."""
    text = "ρ = ΣR/ΣC is reported, not applied"
    if res.throttled:
        text += (
            f"; throttled feeds ({', '.join(res.throttled)}: at most one print per symbol a "
            "second) undercount R, so ρ from them is a lower bound: risk figures scaled by it "
            "would be understated"
        )
    return text + "; with bar-level data (liqtui convert-bars) OI and prints may differ in scope"


def format_result(res: CalibrationResult, source: str) -> str:
    span = ""
    if res.first_ms is not None and res.last_ms is not None:
        span = f" ({(res.last_ms - res.first_ms) / DAY_MS:.1f} d)"
    hours = res.window_ms / HOUR_MS
    lines = [
        f"liqtui calibrate: {source}, market {res.symbol}",
        f"replayed {_t(res.first_ms)} → {_t(res.last_ms)} UTC{span}; scored from "
        f"{_t(res.scored_from_ms)} (warm-up); windows {hours:g}h",
    ]
    if res.exchanges:
        note = f" (throttled feed: R is a lower bound: {', '.join(res.throttled)})"
        lines.append(
            f"compared: {', '.join(res.exchanges)}; {res.prints} realized prints"
            + (note if res.throttled else "")
        )
        lines.append(
            f"scored: {res.n_pairs} (window, side) pairs from {res.n_windows} windows, the same "
            "for every column"
        )
    else:
        lines.append(f"compared: nothing — {res.not_comparable_reason}")
    for ex, usd in sorted(res.excluded_realized_usd.items()):
        lines.append(f"  not compared: {ex} R {_usd(usd)} (no estimated map for it)")
    w = 36
    cols = (res.model, res.naive, res.baseline)
    model_head = f"model ({res.preset})"
    mw = max(18, len(model_head) + 2)
    head = f"{'':<{w}}{model_head:>{mw}}{'naive ±1/L':>13}{'OI×excursion':>14}"
    lines += ["", head]

    def row(label: str, values: Sequence[str]) -> str:
        a, b, c = values
        return f"{label:<{w}}{a:>{mw}}{b:>13}{c:>14}"

    lines.append(row("partial rank corr C~R | excursion", [_f(m.partial, "{:+.3f}") for m in cols]))
    lines.append(row("  90% interval (days resampled)", [_ci(m.partial_ci) for m in cols]))
    lines.append(row("rank corr C~R (plain Spearman)", [_f(m.spearman, "{:+.3f}") for m in cols]))
    lines.append(row("rank R² of R on C", [_f(m.r2, "{:.3f}") for m in cols]))
    gains = [_f(m.r2_gain, "{:+.3f}") for m in cols[:2]] + ["—"]
    lines.append(row("rank R² added to the baseline's", gains))
    lines.append(row("ρ = ΣR/ΣC (not applied)", [_f(m.rho, "{:.4g}") for m in cols]))
    lines.append(row("ΣC (predicted consumption)", [_usd(m.sum_c) for m in cols]))
    lines.append(row("ΣR (realized)", [_usd(m.sum_r) for m in cols]))
    for other, ci, m in (
        ("naive", res.lead_over_naive_ci, res.naive),
        ("OI×excursion", res.lead_over_baseline_ci, res.baseline),
    ):
        if res.model.partial is not None and m.partial is not None:
            lines.append(
                f"{'model − ' + other + ', partial':<{w}}{res.model.partial - m.partial:>+{mw}.3f}"
                f"  90% interval {_ci(ci)}"
            )
    if not res.exchanges:
        lines.append(
            f"{'ΣC, every exchange (nothing to compare)':<{w}}"
            f"{_usd(res.model_c_all_exchanges_usd):>{mw}}"
            f"{_usd(res.naive_c_all_exchanges_usd):>13}"
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
            f"fitted leverage weights (NNLS over {res.fit.n} pairs): {weights}",
            f"  with them: partial rank corr {_f(res.fit.partial, '{:+.3f}')}, ρ "
            f"{_f(res.fit.rho, '{:.4g}')} (in-sample: not validated)",
        ]
    if not res.comparable:
        lines += ["", f"not calibrated (ρ undefined): {res.not_comparable_reason}"]
    lines += [
        "",
        "C = the notional the map said price crossed in the window on that side (E consumed), "
        "R = realized; partial: controlling for how far price went from the window's open on "
        "that side.",
        rho_caveat(res) + ".",
    ]
    return "\n".join(lines) + "\n"


def result_json(res: CalibrationResult) -> dict[str, Any]:
    doc = asdict(res)
    doc["labels"] = {
        "C": "E consumed: notional the map said price crossed in the window, per side",
        "R": "realized liquidation notional in the window, per side",
        "partial": "Spearman(C, R) controlling for the window's price excursion on that side",
        "baseline": "map-free C = open interest at the window's start × excursion",
    }
    doc["rho_caveat"] = rho_caveat(res)
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
        if res.throttled:
            note += f" (throttled: {', '.join(res.throttled)}; ρ is a lower bound)"
        return {
            "preset": FITTED,
            "fitted_weights": [round(w, 6) for w in res.fit.weights],
            "rho": float(f"{res.fit.rho:.6g}"),
            "calibrated_preset": FITTED,
            "calibrated_on": note,
        }
    assert res.model.rho is not None
    note = f"{when}: {source}, {res.symbol}, {res.prints} prints from {', '.join(res.exchanges)}"
    if res.throttled:
        note += f" (throttled: {', '.join(res.throttled)}; ρ is a lower bound)"
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
