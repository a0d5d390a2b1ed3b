"""Command line: `liqtui` (the terminal UI), `liqtui snapshot` (headless frames) and
`liqtui record` (write a recording of the live feeds)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, NoReturn

from liqtui import __version__

if TYPE_CHECKING:
    from liqtui.config import Settings
    from liqtui.feeds.demo import DemoSource
    from liqtui.feeds.live import LiveSource
    from liqtui.feeds.recording import Recorder
    from liqtui.feeds.replay import ReplaySource
    from liqtui.model.engine import Engine

EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
DEMO_SNAPSHOT_START_MS = 1_767_225_600_000  # 2026-01-01 UTC: demo snapshots are reproducible

DESCRIPTION = """\
Terminal monitor for crypto perpetual-swap liquidations: where leveraged longs (below the price)
and shorts (above) would be liquidated (E, estimated), and the liquidations that happen (R).
"""

EPILOG = """\
sources:
  (default)           live public feeds of Binance, Bybit, OKX and Hyperliquid (no API keys)
  --demo              built-in market simulator, offline, deterministic with --seed
  --replay FILE       a recording (JSON Lines, .gz too; see docs/recording.md)

examples:
  liqtui                                   live, the watchlist from your config
  liqtui --symbol BTC --symbol ETH --record today.jsonl.gz
  liqtui --demo
  liqtui --replay today.jsonl.gz --speed 20
  liqtui snapshot --symbol BTC --format json
  liqtui record --out today.jsonl.gz BTC ETH SOL

settings: shipped config.toml < ~/.config/liqtui/config.toml (or $LIQTUI_CONFIG)
          < --config FILE < flags

exit status: 0 ok; 1 no data; 2 bad arguments or config; 3 (snapshot) partial data.
When stdout is not a terminal, `liqtui` prints a text snapshot of the watchlist and exits.
"""

SNAPSHOT_EPILOG = """\
exit status:
  0  complete: every market and every enabled feed delivered data
  1  unavailable: no data for any requested market
  2  bad arguments or config
  3  partial: some market or feed had no data (what was missing is on stderr)
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
    p.add_argument("--record", metavar="FILE", type=Path, help="record the live feeds to FILE")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 < value <= 3600:
        raise argparse.ArgumentTypeError("--wait must be between 0 and 3600 seconds")
    return value


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
        help="print one frame per market and exit (text or JSON)",
        description="Print one frame of the ladder for each market and exit. Live by default: "
        "connects, waits until every feed has delivered data (or --wait elapses), prints.",
        epilog=SNAPSHOT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(snap)
    snap.add_argument("--format", choices=("text", "json"), default="text", help="(text)")
    snap.add_argument("--width", type=_positive_int, default=100, help="text width (100)")
    snap.add_argument("--height", type=_positive_int, default=40, help="lines per frame (40)")
    snap.add_argument(
        "--wait", type=_seconds, default=20.0, metavar="SECONDS", help="live: wait at most (20)"
    )
    rec = sub.add_parser(
        "record",
        help="record the live feeds to a file (until ctrl+c)",
        description="Write every message the live feeds receive to a recording (JSON Lines, "
        "gzip when the name ends in .gz), one flushed line each, until interrupted.",
    )
    rec.add_argument("symbols", nargs="*", type=_symbol, metavar="SYMBOL", help="(watchlist)")
    rec.add_argument("--out", type=Path, metavar="FILE", help="(liqtui-<time>.jsonl.gz)")
    rec.add_argument("--config", metavar="FILE", type=Path, help="settings file (overrides yours)")
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
    settings: Settings,
    args: argparse.Namespace,
    *,
    headless: bool,
    recorder: Recorder | None = None,
) -> DemoSource | ReplaySource | LiveSource:
    from liqtui.config import parse_duration, parse_speed

    symbols = args.symbol or settings.general.watchlist
    if args.demo:
        from liqtui.feeds.demo import DemoSource

        seed = args.seed if args.seed is not None else settings.demo.seed
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
    from liqtui.feeds.live import LiveSource

    return LiveSource(settings, symbols, recorder=recorder)


def _open_recorder(args: argparse.Namespace) -> Recorder | None:
    path = getattr(args, "record", None)
    if path is None:
        return None
    if args.demo or args.replay is not None:
        raise _UsageError("--record records live feeds; it does not go with --demo or --replay")
    from liqtui.feeds.recording import Recorder

    return Recorder(path)


class _UsageError(Exception):
    pass


def _frames(
    engine: Engine, settings: Settings, args: argparse.Namespace, symbols: list[str]
) -> str:
    from liqtui.ladder import LadderView
    from liqtui.snapshot import HEADER_LINES, render_json, render_text

    fmt = getattr(args, "format", "text")
    width = getattr(args, "width", 100)
    height = getattr(args, "height", 40)
    parts = []
    for symbol in symbols:
        snap = engine.snapshot(symbol)
        view = LadderView(span_pct=settings.ladder.span_pct)
        if fmt == "json":
            parts.append(render_json(snap, rows=max(height - HEADER_LINES - 1, 1), view=view))
        else:
            text = render_text(
                snap,
                width=width,
                height=height,
                view=view,
                realized_mark_usd=settings.ladder.realized_mark_usd,
            )
            parts.append(text if not parts else "\n" + text)
    return "".join(parts)


def _missing(engine: Engine, symbols: list[str], feeds: list[str]) -> tuple[list[str], list[str]]:
    """Markets without a price and feeds without data."""
    no_market = [s for s in symbols if engine.snapshot(s).price is None]
    no_feed = [f for f in feeds if (h := engine.feeds.get(f)) is None or h.last_event_ms is None]
    return no_market, no_feed


async def _collect_live(
    source: LiveSource, engine: Engine, symbols: list[str], feeds: list[str], wait_s: float
) -> None:
    """Run the live feeds until every market and feed has data, or `wait_s` elapses."""
    import asyncio
    import contextlib

    task = asyncio.create_task(source.run(engine))
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        while loop.time() < deadline and any(_missing(engine, symbols, feeds)):
            await asyncio.sleep(0.1)
        # Let first prices settle into one model step before printing.
        await asyncio.sleep(0.2)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


def run_snapshot(
    settings: Settings, args: argparse.Namespace, *, out: IO[str] | None = None
) -> int:
    """Feed the source into the engine, then print one frame per market."""
    import asyncio

    out = out or sys.stdout
    engine = _make_engine(settings, args)
    symbols = list(args.symbol or settings.general.watchlist)
    recorder = _open_recorder(args)
    source = _make_source(settings, args, headless=True, recorder=recorder)
    live = not (args.demo or args.replay is not None)
    feeds = list(settings.feeds.exchanges) if live else []
    try:
        if live:
            asyncio.run(_collect_live(source, engine, symbols, feeds, args.wait))  # type: ignore[arg-type]
        else:
            source.run_sync(engine)  # type: ignore[union-attr]
    finally:
        if recorder is not None:
            recorder.close()
    out.write(_frames(engine, settings, args, symbols))
    out.flush()
    no_market, no_feed = _missing(engine, symbols, feeds)
    if len(no_market) == len(symbols):
        why = "; ".join(
            f"{f}: {h.last_error}" for f in no_feed if (h := engine.feeds.get(f)) and h.last_error
        )
        print(
            f"liqtui: no data for {', '.join(no_market)}" + (f" ({why})" if why else ""),
            file=sys.stderr,
        )
        return EXIT_UNAVAILABLE
    if no_market or no_feed:
        what = [f"market {m}" for m in no_market] + [
            f"feed {f} ({engine.feeds[f].last_error or 'no data'})"
            if f in engine.feeds
            else f"feed {f}"
            for f in no_feed
        ]
        print(f"liqtui: partial data: nothing from {', '.join(what)}", file=sys.stderr)
        return EXIT_PARTIAL if live else EXIT_UNAVAILABLE
    return EXIT_OK


def run_record(settings: Settings, args: argparse.Namespace) -> int:
    """Record the live feeds until SIGINT or SIGTERM; a status line on stderr now and then."""
    import asyncio
    import contextlib
    import signal
    import time

    from liqtui.feeds.live import LiveSource
    from liqtui.feeds.recording import Recorder
    from liqtui.model.engine import Engine

    symbols = list(args.symbols or settings.general.watchlist)
    path = args.out or Path(time.strftime("liqtui-%Y%m%d-%H%M%S.jsonl.gz"))
    recorder = Recorder(path)
    engine = Engine(params=settings.model_params())
    source = LiveSource(settings, symbols, recorder=recorder)
    print(f"liqtui: recording {', '.join(symbols)} to {path} (ctrl+c stops)", file=sys.stderr)

    async def main() -> None:
        task = asyncio.create_task(source.run(engine))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), timeout=10.0)
            except TimeoutError:
                states = ", ".join(f"{f.name} {f.state}" for f in engine.feeds.values())
                print(f"liqtui: {recorder.lines} lines; {states}", file=sys.stderr)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        asyncio.run(main())
    finally:
        recorder.close()
    print(f"liqtui: wrote {recorder.lines} lines to {path}", file=sys.stderr)
    return EXIT_OK


def run_tui(settings: Settings, args: argparse.Namespace) -> int:
    from liqtui.config import user_themes_dir

    engine = _make_engine(settings, args)
    recorder = _open_recorder(args)
    source = _make_source(settings, args, headless=False, recorder=recorder)
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
    try:
        app.run()
    finally:
        if recorder is not None:
            recorder.close()
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
        if args.command == "record":
            return run_record(settings, args)
        if not sys.stdout.isatty():
            # Textual draws on stderr; with stdout redirected a frame is what the user wants.
            args.wait, args.format, args.width, args.height = 20.0, "text", 100, 40
            return run_snapshot(settings, args)
        return run_tui(settings, args)
    except _UsageError as exc:
        return _fail(str(exc))
    except FileNotFoundError as exc:
        return _fail(str(exc).strip("'\""))
    except OSError as exc:
        return _fail(f"{exc.strerror or exc}: {getattr(exc, 'filename', '')}")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # no traceback reaches a user; LIQTUI_DEBUG=1 shows it
        if os.environ.get("LIQTUI_DEBUG"):
            raise
        return _fail(f"internal error: {type(exc).__name__}: {exc} (LIQTUI_DEBUG=1 shows more)", 70)
