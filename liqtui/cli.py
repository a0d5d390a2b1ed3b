"""Command line: `liqtui` (the terminal UI) and `liqtui snapshot` (one headless frame)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn

from liqtui import __version__

if TYPE_CHECKING:
    from liqtui.config import Settings
    from liqtui.feeds.demo import DemoSource
    from liqtui.feeds.replay import ReplaySource
    from liqtui.model.engine import Engine

EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE = 0, 1, 2
DEMO_SNAPSHOT_START_MS = 1_767_225_600_000  # 2026-01-01 UTC: demo snapshots are reproducible

DESCRIPTION = """\
Terminal monitor for crypto perpetual-swap liquidations: where leveraged longs (below the price)
and shorts (above) would be liquidated (E, estimated), and the liquidations that happen (R).
"""

EPILOG = """\
sources:
  --demo              built-in market simulator, offline, deterministic with --seed
  --replay FILE       a recording (JSON Lines, .gz too; see docs/recording.md)

examples:
  liqtui --demo
  liqtui --replay session.jsonl.gz --speed 20
  liqtui snapshot --replay session.jsonl --symbol BTC --format json --window 30d

settings: shipped config.toml < ~/.config/liqtui/config.toml (or $LIQTUI_CONFIG)
          < --config FILE < flags

exit status: 0 ok; 1 no data for a requested market; 2 bad arguments or config.
When stdout is not a terminal, `liqtui` prints a text snapshot of the watchlist and exits.
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _duration(text: str) -> int:
    from liqtui.config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _speed(text: str) -> float | None:
    from liqtui.config import parse_speed

    try:
        return parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _symbol(text: str) -> str:
    from liqtui.markets import SymbolError, market_key

    try:
        return market_key(text)
    except SymbolError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be positive")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError("the seed must be zero or more")
    return value


def _fps(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.2 <= value <= 30:
        raise argparse.ArgumentTypeError("fps must be between 0.2 and 30")
    return value


def _add_common(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--demo", action="store_true", help="run on the built-in market simulator")
    src.add_argument("--replay", metavar="FILE", type=Path, help="replay a recording")
    p.add_argument("--speed", type=_speed, metavar="N|max", help="replay speed (default 1)")
    p.add_argument("--seed", type=_seed, metavar="N", help="demo simulator seed (default 0)")
    p.add_argument(
        "--symbol",
        action="append",
        type=_symbol,
        metavar="SYM",
        help="market: BTC, BTCUSDT or BTC/USDT:USDT (repeat for several; default: watchlist)",
    )
    p.add_argument("--window", type=_duration, metavar="DURATION", help="realized window (24h)")
    p.add_argument("--preset", choices=("high", "balanced", "observed-low"), help="leverage prior")
    p.add_argument("--config", metavar="FILE", type=Path, help="settings file (overrides yours)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="liqtui",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"liqtui {__version__}")
    _add_common(parser)
    parser.add_argument("--fps", type=_fps, help="screen updates per second (default 4)")
    parser.add_argument("--theme", help="theme name (default liqtui-dark)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    snap = sub.add_parser(
        "snapshot",
        help="print one frame and exit (text or JSON)",
        description="Print one frame of the ladder for each market and exit.",
        epilog="exit status: 0 ok; 1 no data for a requested market; 2 bad arguments or config.",
    )
    _add_common(snap)
    snap.add_argument("--format", choices=("text", "json"), default="text", help="(text)")
    snap.add_argument("--width", type=_positive_int, default=100, help="text width (100)")
    snap.add_argument("--height", type=_positive_int, default=40, help="lines per frame (40)")
    return parser


def _fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"liqtui: error: {message}", file=sys.stderr)
    return status


def _make_engine(settings: Settings, args: argparse.Namespace) -> Engine:
    from liqtui.model.engine import Engine

    params = settings.model_params(args.window)
    return Engine(
        params=params,
        preset=args.preset or settings.model.preset,
        tier_filter=settings.model.tier_filter,
    )


def _make_source(
    settings: Settings, args: argparse.Namespace, *, headless: bool
) -> DemoSource | ReplaySource | None:
    from liqtui.config import parse_duration, parse_speed

    symbols = args.symbol or settings.general.watchlist
    seed = args.seed if args.seed is not None else settings.demo.seed
    if args.demo:
        from liqtui.feeds.demo import DemoSource

        return DemoSource(
            symbols,
            seed=seed,
            speed=settings.demo.speed,
            warmup_ms=parse_duration(settings.demo.warmup),
            start_ms=DEMO_SNAPSHOT_START_MS if headless else None,
        )
    if args.replay is not None:
        from liqtui.feeds.replay import ReplaySource

        if not args.replay.is_file():
            raise FileNotFoundError(f"{args.replay}: no such recording")
        speed = args.speed if args.speed is not None else parse_speed(settings.replay.speed)
        return ReplaySource(
            args.replay,
            speed=None if headless else speed,
            max_gap_s=parse_duration(settings.replay.max_gap) / 1000,
        )
    return None


def run_snapshot(
    settings: Settings, args: argparse.Namespace, *, out: IO[str] | None = None
) -> int:
    """Feed the whole source into the engine, then print one frame per market."""
    from liqtui.ladder import LadderView
    from liqtui.snapshot import HEADER_LINES, render_json, render_text

    out = out or sys.stdout
    engine = _make_engine(settings, args)
    source = _make_source(settings, args, headless=True)
    if source is None:
        return _fail("snapshot needs a source: --demo or --replay FILE (live feeds: coming)")
    source.run_sync(engine)
    symbols = args.symbol or settings.general.watchlist
    fmt = getattr(args, "format", "text")
    width = getattr(args, "width", 100)
    height = getattr(args, "height", 40)
    missing = []
    for i, symbol in enumerate(symbols):
        snap = engine.snapshot(symbol)
        if snap.grid is None:
            missing.append(symbol)
        view = LadderView(span_pct=settings.ladder.span_pct)
        if fmt == "json":
            rows = max(height - HEADER_LINES - 1, 1)
            out.write(render_json(snap, rows=rows, view=view))
        else:
            if i:
                out.write("\n")
            out.write(
                render_text(
                    snap,
                    width=width,
                    height=height,
                    view=view,
                    realized_mark_usd=settings.ladder.realized_mark_usd,
                )
            )
    out.flush()
    if missing:
        print(f"liqtui: no data for {', '.join(missing)} in this source", file=sys.stderr)
        return EXIT_UNAVAILABLE
    return EXIT_OK


def run_tui(settings: Settings, args: argparse.Namespace) -> int:
    from liqtui.config import user_themes_dir

    engine = _make_engine(settings, args)
    source = _make_source(settings, args, headless=False)
    if source is None:
        return _fail(
            "live exchange feeds are not in this version yet; "
            "run `liqtui --demo` or `liqtui --replay FILE`"
        )
    from liqtui.ui.app import LiqApp

    app = LiqApp(
        engine,
        source,
        watchlist=args.symbol or settings.general.watchlist,
        fps=args.fps or settings.general.fps,
        theme=args.theme or settings.general.theme,
        realized_mark_usd=settings.ladder.realized_mark_usd,
        window_ms=args.window,
        user_themes_dir=user_themes_dir(settings),
        ladder_span_pct=settings.ladder.span_pct,
    )
    app.run()
    return app.return_code or EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from liqtui.config import ConfigError, load_settings

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return _fail(str(exc))
    try:
        if args.command == "snapshot":
            return run_snapshot(settings, args)
        if not sys.stdout.isatty():
            # Textual draws on stderr; with stdout redirected a frame is what the user wants.
            if args.demo or args.replay is not None:
                return run_snapshot(settings, args)
            return _fail("stdout is not a terminal: use --demo or --replay FILE with it")
        return run_tui(settings, args)
    except FileNotFoundError as exc:
        return _fail(str(exc).strip("'\""))
    except OSError as exc:
        return _fail(f"{exc.strerror or exc}: {getattr(exc, 'filename', '')}")
    except KeyboardInterrupt:
        return 130
