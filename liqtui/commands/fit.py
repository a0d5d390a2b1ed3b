"""`liqtui calibrate --fit [--write]`: fit a market's model parameters (turnover, half-life,
leverage mix) by out-of-sample validation on a recording (liqtui.model.fit does the fitting),
print what it found beside the settings as they are, and --write it into the fitted-parameters
file (liqtui.fitted) that every later run loads.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from liqtui.commands.common import DEMO_START_MS, EXIT_USAGE
from liqtui.durations import format_duration

if TYPE_CHECKING:
    from liqtui.config import Settings
    from liqtui.events import MarketEvent
    from liqtui.health import FeedHealth
    from liqtui.model.fit import FitResult, Holdout, Point

HOUR_MS = 3_600_000


class _Capture:
    """An EventSink that keeps what a source sends (events and clock), so a recording is
    parsed once and replayed from memory for every candidate."""

    def __init__(self) -> None:
        from liqtui.health import FeedHealth

        self._health = FeedHealth
        self.feeds: dict[str, FeedHealth] = {}
        self.steps: list[MarketEvent | int] = []

    def feed(self, name: str) -> FeedHealth:
        health = self.feeds.get(name)
        if health is None:
            health = self.feeds[name] = self._health(name)
        return health

    def apply(self, event: MarketEvent) -> bool:
        self.steps.append(event)
        return True

    def advance(self, now_ms: int) -> None:
        self.steps.append(now_ms)


def _error(text: str, code: int = EXIT_USAGE) -> int:
    print(f"liqtui: error: {text}", file=sys.stderr)
    return code


def main(settings: Settings, args: argparse.Namespace, *, out: IO[str] | None = None) -> int:
    """0: fitted (and written with --write); 1: nothing to fit on; 2: usage."""
    from liqtui.fitted import MarketFit, fitted_path, write_fit
    from liqtui.model.engine import engine_from_settings
    from liqtui.model.fit import fit

    out = out or sys.stdout
    symbols = list(args.symbol or [])
    if len(symbols) != 1:
        return _error("--fit needs exactly one --symbol (parameters are fitted per market)")
    symbol = symbols[0]
    if args.replay is None and not args.demo:
        return _error("calibrate --fit needs --replay FILE or --demo")
    preset = args.preset or settings.model.preset
    engine = engine_from_settings(settings, preset=preset)
    try:
        weights = tuple(float(w) for w in engine.weights(symbol, preset, args.tier_filter))
    except ValueError as exc:
        return _error(f"preset {preset!r}: {exc}")
    capture = _Capture()
    t0 = time.perf_counter()
    if args.demo:
        from liqtui.demo import DemoSource

        source = f"demo simulator (synthetic), seed {args.seed}"
        total = args.warmup + args.duration
        DemoSource([symbol], seed=args.seed, warmup_ms=total, start_ms=DEMO_START_MS).run_sync(
            capture
        )
    else:
        from liqtui.feeds.replay import ReplaySource

        replay_path: Path = args.replay
        if not replay_path.is_file():
            return _error(f"{replay_path}: no such recording")
        source = str(replay_path)
        replay = ReplaySource(replay_path, speed=None)
        replay.run_sync(capture)
        problem = replay.problem()
        if problem is not None:
            return _error(problem, 1)
    parse_s = time.perf_counter() - t0
    progress = None
    if args.format == "text":

        def progress(line: str) -> None:
            print(f"  {line}", file=sys.stderr, flush=True)

    try:
        res = fit(
            capture.steps,
            symbol,
            params=engine.params_for(symbol),
            weights=weights,
            window_ms=args.window,
            warmup_ms=args.warmup,
            train_share=args.train,
            tiers=engine.tiers,
            progress=progress,
        )
    except ValueError as exc:
        print(f"liqtui: nothing fitted: {exc}", file=sys.stderr)
        return 1
    if args.format == "json":
        doc = fit_json(res, source, preset)
        doc["parse_seconds"] = round(parse_s, 3)
        out.write(json.dumps(doc, allow_nan=False) + "\n")
    else:
        out.write(format_fit(res, source, preset, parse_s))
    out.flush()
    if args.write:
        when = datetime.now(UTC).strftime("%Y-%m-%d")
        note = (
            f"{when}: {source}, {_day(res.first_ms)} to {_day(res.last_ms)}, trained before "
            f"{_day(res.split.split_ms)}; partial Spearman out of sample "
            f"{_f(res.before_test.model.partial)} -> {_f(res.after_test.model.partial)} "
            f"(naive {_f(res.after_test.naive.partial)}, "
            f"OI x excursion {_f(res.after_test.baseline.partial)})"
        )
        found = MarketFit(
            half_life_ms=res.after.half_life_ms,
            turnover=res.after.turnover,
            leverage_weights=res.after.weights,
            bar=format_duration(res.window_ms),
            fitted_on=note,
        )
        path = fitted_path(settings.model.fitted_file)
        try:
            write_fit(path, symbol, found)
        except (OSError, ValueError) as exc:
            return _error(f"not written: {exc}")
        print(f"liqtui: wrote the fitted parameters of {symbol} to {path}", file=out)
    return 0


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")


def _f(x: float | None) -> str:
    return "n/a" if x is None or x != x else f"{x:+.3f}"


def _weights(w: tuple[float, ...]) -> str:
    from liqtui.presets import LEVERAGE_TIERS

    return " ".join(f"{t}x {v:.2f}" for t, v in zip(LEVERAGE_TIERS, w, strict=True))


def _point(p: Point) -> str:
    return (
        f"half-life {format_duration(p.half_life_ms)}, turnover {p.turnover:g}/h, "
        f"mix {_weights(p.weights)}"
    )


def format_fit(res: FitResult, source: str, preset: str, parse_s: float) -> str:
    b, a = res.before_test, res.after_test
    hours = res.window_ms / HOUR_MS
    lines = [
        f"liqtui calibrate --fit: {source}, market {res.symbol}, {hours:g}h windows",
        f"scored {_day(res.first_ms)} → {_day(res.last_ms)} UTC; fitted on the first "
        f"{res.split.n_train_windows} windows (to {_day(res.split.split_ms)}), tested on the "
        f"last {res.split.n_test_windows} ({b.n_pairs} window-side pairs)",
        "",
        f"as set ({preset}): {_point(res.before)}",
        f"fitted:            {_point(res.after)}",
        "",
        "partial Spearman of C and R given the excursion (test windows = out of sample):",
        f"{'':<30}{'train':>9}{'test':>9}{'plain (test)':>14}{'R² gain (test)':>16}",
    ]

    def row(label: str, train: float | None, h: Holdout, which: str) -> str:
        s = getattr(h, which)
        gain = "" if s.r2_gain is None else f"{s.r2_gain:+.3f}"
        return (
            f"{label:<30}{_f(train) if train is not None else '':>9}{_f(s.partial):>9}"
            f"{_f(s.spearman):>14}{gain:>16}"
        )

    lines += [
        row("model as set", res.before.train, b, "model"),
        row("model fitted", res.after.train, a, "model"),
        row("naive ±1/L (fitted mix)", None, a, "naive"),
        row("OI × excursion baseline", None, a, "baseline"),
        "",
        "best leverage mix per point (train / test):",
    ]
    for p in res.trials:
        lines.append(
            f"  half-life {format_duration(p.half_life_ms):>4}, turnover {p.turnover:<6g}"
            f"{_f(p.train):>8} {_f(p.test):>7}   {_weights(p.weights)}"
        )
    if res.knobs:
        lines.append("other knobs at the fitted point (train / test; kept if train gains ≥ 0.005):")
        for k in res.knobs:
            verdict = "kept" if k.kept else "no measurable gain"
            lines.append(f"  {k.name} = {k.value}: {_f(k.train)} / {_f(k.test)} ({verdict})")
    if res.unmeasured_tiers:
        tiers = ", ".join(f"{t}x" for t in res.unmeasured_tiers)
        lines.append(f"never consumed in the scored windows (weight not measurable): {tiers}")
    lines.append(
        f"{res.replays} replays in {res.seconds:.1f} s (recording parsed once, {parse_s:.1f} s)"
    )
    return "\n".join(lines) + "\n"


def _score(s: Any) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and v != v else v) for k, v in asdict(s).items()}


def fit_json(res: FitResult, source: str, preset: str) -> dict[str, Any]:
    def point(p: Point) -> dict[str, Any]:
        return _score(p) | {"weights": list(p.weights)}

    return {
        "symbol": res.symbol,
        "source": source,
        "preset": preset,
        "window_ms": res.window_ms,
        "warmup_ms": res.warmup_ms,
        "train_share": res.train_share,
        "first_ms": res.first_ms,
        "last_ms": res.last_ms,
        "split_ms": res.split.split_ms,
        "train_windows": res.split.n_train_windows,
        "test_windows": res.split.n_test_windows,
        "exchanges": res.exchanges,
        "before": point(res.before),
        "after": point(res.after),
        "test": {
            "before": {k: _score(getattr(res.before_test, k)) for k in ("model", "naive")},
            "after": {k: _score(getattr(res.after_test, k)) for k in ("model", "naive")},
            "baseline": _score(res.after_test.baseline),
            "pairs": res.after_test.n_pairs,
        },
        "trials": [point(p) for p in res.trials],
        "knobs": [_score(k) for k in res.knobs],
        "kept": res.kept,
        "unmeasured_tiers": list(res.unmeasured_tiers),
        "seconds": round(res.seconds, 3),
        "replays": res.replays,
    }
