"""Command line: `liqtui` (the terminal UI), `liqtui snapshot` (headless frames) and
`liqtui record` (write a recording of the live feeds)."""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, NoReturn

from liqtui import __version__

if TYPE_CHECKING:
    import asyncio

    from rich.style import Style

    from liqtui.config import Settings
    from liqtui.demo import DemoSource
    from liqtui.feeds.live import LiveSource
    from liqtui.feeds.recording import Recorder
    from liqtui.feeds.replay import ReplaySource
    from liqtui.ladder import LadderView
    from liqtui.model.engine import Engine

EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
EXIT_IOERR = 74  # sysexits' EX_IOERR: the recording could not be written
RECORD_STATUS_S = 10.0  # `liqtui record` prints a progress line this often
SNAPSHOT_FORMATS = ("text", "ansi", "json", "csv", "svg")
SNAPSHOT_COLORS = ("auto", "always", "none", "never")
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

exit status: 0 ok; 1 no data; 2 bad arguments or config; 3 (snapshot) partial data;
  74 the recording (--record, `record`) could not be written (the file and the cause on stderr).
When stdout is not a terminal, `liqtui` prints a text snapshot of the watchlist and exits.
"""

SNAPSHOT_EPILOG = """\
exit status:
  0  complete: every market and every enabled feed delivered data; --every stopped by
     SIGTERM or SIGINT (after finishing the record it was writing)
  1  unavailable: no data for any requested market (or a --replay file with no recording
     line in it)
  2  bad arguments or config
  3  partial: some market or feed had no data (what was missing is on stderr)
  74 --record: the recording could not be written (the file and the cause on stderr)
  With --every --count N the status is that of the last record; what goes missing or comes
  back while running is reported on stderr, one line per change.

examples:
  liqtui snapshot --symbol BTC --symbol ETH --format json --every 1m >> liq.log
  liqtui snapshot --format csv --output levels.csv
  liqtui snapshot --demo --format ansi | less -R
  liqtui snapshot --replay session.jsonl.gz --symbol BTC --format svg -o btc.svg

The JSON objects follow a JSON Schema shipped with liqtui (--schema prints it).
Without --format: ansi on a terminal, text into a file or a pipe or under NO_COLOR.
--format ansi is colored wherever it goes (--color none: bold/dim only; never: plain).
"""


class _Parser(argparse.ArgumentParser):
    """argparse that reports a bad argument in one line (no usage dump)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _ranged(key: str) -> Callable[[str], Any]:
    """An argparse type: a value of `key`, checked against its range in liqtui.config.RANGES
    (the same range as the config file's, for the flags that set a setting)."""
    from liqtui.config import RANGES

    rng = RANGES[key]

    def parse(text: str) -> Any:
        try:
            return rng.parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    parse.__name__ = key  # argparse names the type in some messages
    return parse


def _allowed(key: str) -> str:
    """ "0.2 to 30": the range of `key`, for --help."""
    from liqtui.config import RANGES

    return str(RANGES[key])


def _add_ranged(
    p: argparse.ArgumentParser, flag: str, key: str, what: str, shown: str = "", **kw: Any
) -> None:
    """A flag checked against the range of `key`; its help says what it is, the range and
    (`shown`) the default."""
    default = f" ({shown})" if shown else ""
    p.add_argument(flag, type=_ranged(key), help=f"{what}, {_allowed(key)}{default}", **kw)


def _speed(text: str) -> str:
    """--speed, checked and kept as written: parse_speed turns "max" into None, which would
    read as "not given" and fall back to the config's speed."""
    from liqtui.config import parse_speed

    try:
        parse_speed(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text.strip()


def _symbol(text: str) -> str:
    from liqtui.markets import SymbolError, market_key

    try:
        return market_key(text)
    except SymbolError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_common(p: argparse.ArgumentParser) -> None:
    src = p.add_mutually_exclusive_group()
    src.add_argument("--demo", action="store_true", help="run on the built-in market simulator")
    src.add_argument("--replay", metavar="FILE", type=Path, help="replay a recording")
    p.add_argument(
        "--speed",
        type=_speed,
        metavar="N|max",
        help=f"replay speed, {_allowed('replay.speed')} (default 1); with --demo the "
        f"simulator's speed, {_allowed('demo.speed')} (max: the top one)",
    )
    _add_ranged(p, "--seed", "demo.seed", "demo simulator seed", "default 0", metavar="N")
    p.add_argument(
        "--symbol",
        action="append",
        type=_symbol,
        metavar="SYM",
        help="market: BTC, BTCUSDT or BTC/USDT:USDT (repeat for several; default: watchlist)",
    )
    _add_ranged(p, "--window", "model.window", "realized window", "24h", metavar="DURATION")
    p.add_argument("--preset", choices=_choices("model.preset"), help="leverage prior")
    p.add_argument("--config", metavar="FILE", type=Path, help="settings file (overrides yours)")
    p.add_argument("--record", metavar="FILE", type=Path, help="record the live feeds to FILE")


def _choices(key: str) -> tuple[str, ...]:
    from liqtui.config import choices

    return choices(key)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="liqtui",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"liqtui {__version__}")
    _add_common(parser)
    _add_ranged(parser, "--fps", "general.fps", "screen updates per second", "default 4")
    parser.add_argument("--theme", help="theme name (default liqtui-dark)")
    parser.add_argument(
        "--color",
        dest="tui_color",
        choices=_choices("general.color"),
        help="terminal colors (default auto; NO_COLOR means none; 16 uses the terminal's palette)",
    )
    parser.add_argument(
        "--view",
        choices=_choices("general.view"),
        help="view at start (default ladder; v cycles)",
    )
    sub = parser.add_subparsers(
        dest="command",
        metavar="[COMMAND]",
        title="commands (none: the terminal UI)",
        parser_class=_Parser,
    )
    snap = sub.add_parser(
        "snapshot",
        help="print one frame per market and exit (text, ansi, json, csv, svg), or one per period",
        description="Print one frame of the ladder for each market and exit. Live by default: "
        "connects, waits until every feed has delivered data (or --wait elapses), prints. "
        "With --every it keeps running and prints one record per period. "
        "Formats and fields: docs/snapshot.md.",
        epilog=SNAPSHOT_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_common(snap)
    snap.add_argument(
        "--format",
        choices=SNAPSHOT_FORMATS,
        help="text (plain), ansi (colored), json (JSON Lines), csv (a row per price level) "
        "or svg (the TUI screen) (ansi on a terminal without NO_COLOR, else text)",
    )
    _add_ranged(snap, "--width", "snapshot.width", "text width", "100", default=100)
    _add_ranged(snap, "--height", "snapshot.height", "lines per frame", "40", default=40)
    _add_ranged(
        snap, "--wait", "snapshot.wait", "live: wait at most", "20", default=20.0, metavar="SECONDS"
    )
    _add_ranged(
        snap,
        "--every",
        "snapshot.every",
        "keep running: one snapshot per period (1m, 15s; live or --demo) until SIGTERM",
        metavar="DURATION",
    )
    _add_ranged(snap, "--count", "snapshot.count", "--every: stop after N records", metavar="N")
    snap.add_argument(
        "--output",
        "-o",
        type=Path,
        metavar="FILE",
        help="write to FILE, replaced atomically (with --every: records are appended)",
    )
    snap.add_argument(
        "--color",
        choices=SNAPSHOT_COLORS,
        default="auto",
        help="ansi colors: always, none (bold/dim only, no color) or never (plain text); "
        "auto = as --format says, or without --format as the terminal and NO_COLOR say (auto)",
    )
    snap.add_argument(
        "--schema", action="store_true", help="print the JSON Schema of --format json and exit"
    )
    rec = sub.add_parser(
        "record",
        help="record the live feeds to a file (until ctrl+c)",
        description="Write every message the live feeds receive to a recording (JSON Lines, "
        "gzip when the name ends in .gz; an existing file is appended to), flushed every second, "
        "until interrupted. Exit status 74 when the file cannot be written (a full disk): the "
        "file and the cause are on stderr. See docs/recording.md.",
    )
    rec.add_argument("symbols", nargs="*", type=_symbol, metavar="SYMBOL", help="(watchlist)")
    rec.add_argument("--out", type=Path, metavar="FILE", help="(liqtui-<time>.jsonl.gz)")
    rec.add_argument("--config", metavar="FILE", type=Path, help="settings file (overrides yours)")
    cal = sub.add_parser(
        "calibrate",
        help="score the estimated map against realized prints (and the naive ±1/L map)",
        description="Replay a recording (or the simulator) and compare the model's predicted "
        "liquidations (C, estimated) with realized prints (R) per price cell and window, beside "
        "the naive ±1/L baseline: rank correlations, the share of R in the map's top-20% cells "
        "before price crossed them, and rho = sum R / sum C. --write stores rho (and with "
        "--fit-weights the fitted leverage weights) in your config. See docs/model.md.",
    )
    _add_calibrate_arguments(cal)
    return parser


def _add_calibrate_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `liqtui calibrate` (liqtui.model.calibrate runs it; defined here so that
    `--help` does not import the model)."""
    hour_ms, day_ms = 3_600_000, 86_400_000
    src = p.add_mutually_exclusive_group()
    src.add_argument("--replay", metavar="FILE", type=Path, help="recording to calibrate on")
    src.add_argument("--demo", action="store_true", help="the built-in simulator (synthetic)")
    p.add_argument("--symbol", action="append", type=_symbol, metavar="SYM", help="market(s)")
    p.add_argument(
        "--preset",
        choices=_choices("model.preset"),
        help="leverage preset to score (default: from the config)",
    )
    p.add_argument(
        "--tier-filter", choices=_choices("model.tier_filter"), default="all", help="(all)"
    )
    duration = {"metavar": "DURATION"}
    _add_ranged(p, "--window", "calibrate.window", "window", "1h", default=hour_ms, **duration)
    _add_ranged(
        p,
        "--warmup",
        "calibrate.warmup",
        "replayed time that builds the map before scoring starts",
        "24h",
        default=day_ms,
        **duration,
    )
    fraction = {"metavar": "FRACTION"}
    _add_ranged(
        p, "--cell-pct", "calibrate.cell_pct", "price cell", "0.0025", default=0.0025, **fraction
    )
    _add_ranged(
        p, "--band", "calibrate.band", "top-20%% ranking band", "0.10", default=0.10, **fraction
    )
    _add_ranged(
        p,
        "--duration",
        "calibrate.duration",
        "--demo: simulated time after the warm-up",
        "3d",
        default=3 * day_ms,
        **duration,
    )
    _add_ranged(p, "--seed", "demo.seed", "--demo: simulator seed", "0", default=0, metavar="N")
    p.add_argument("--fit-weights", action="store_true", help="fit the leverage weights too")
    p.add_argument("--write", action="store_true", help="write ρ (and weights) to your config")
    p.add_argument("--format", choices=("text", "json"), default="text", help="(text)")
    p.add_argument(
        "--refresh-tiers",
        action="store_true",
        help="fetch Bybit risk limits and OKX position tiers into your tiers file",
    )
    p.add_argument("--config", metavar="FILE", type=Path, help="settings file (overrides yours)")


def _fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"liqtui: error: {message}", file=sys.stderr)
    return status


def _make_engine(settings: Settings, args: argparse.Namespace) -> Engine:
    from liqtui.model.engine import engine_from_settings

    return engine_from_settings(settings, window_ms=args.window, preset=args.preset)


def _demo_speed(settings: Settings, args: argparse.Namespace) -> float:
    """The simulator's speed: --speed when given (a number in the demo's range; "max" is
    the fastest it runs), else `[demo] speed`."""
    if args.speed is None:
        return float(settings.demo.speed)
    from liqtui.config import RANGES

    demo_range = RANGES["demo.speed"]
    if args.speed.lower() == "max":  # a simulator has no end to run to: its top speed
        return float(demo_range.hi)
    try:
        return float(demo_range.parse(args.speed))
    except ValueError as exc:
        raise _UsageError(f"--speed with --demo: {exc}") from None


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
        from liqtui.demo import DemoSource

        seed = args.seed if args.seed is not None else settings.demo.seed
        return DemoSource(
            symbols,
            seed=seed,
            speed=_demo_speed(settings, args),
            warmup_ms=parse_duration(settings.demo.warmup),
            start_ms=DEMO_SNAPSHOT_START_MS if headless else None,
        )
    if args.replay is not None:
        from liqtui.feeds.replay import ReplaySource

        if not args.replay.is_file():
            raise FileNotFoundError(f"{args.replay}: no such recording")
        speed = parse_speed(args.speed if args.speed is not None else settings.replay.speed)
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
    return _recorder(path, "--record")


def _recorder(path: Path, flag: str) -> Recorder:
    """The recorder for `path` (a missing folder is a bad argument). It does not raise when the
    file cannot be written: its `error` says why, and the caller reports it."""
    from liqtui.feeds.recording import Recorder

    if not path.parent.is_dir():
        raise _UsageError(f"{flag} {path}: no folder {path.parent}")
    if path.is_dir():
        raise _UsageError(f"{flag} {path} is a folder")
    return Recorder(path)


def _recording_failed(recorder: Recorder | None) -> bool:
    """Say on stderr that the recording failed, naming the file and the cause."""
    if recorder is None or recorder.error is None:
        return False
    print(
        f"liqtui: error: recording FAILED: {recorder.error} ({recorder.lines_on_disk} lines "
        f"written before the failure; {recorder.lost} lost or cut off)",
        file=sys.stderr,
    )
    return True


class _UsageError(Exception):
    pass


class _Printer:
    """Draws every market's frame in the chosen format. One per run, so each market's ladder
    view (which prices the rows cover) stays put from one --every record to the next."""

    def __init__(self, settings: Settings, args: argparse.Namespace, *, colors: str | None) -> None:
        from liqtui.snapshot import FOOTER_LINES, HEADER_LINES

        self.settings = settings
        self.fmt: str = getattr(args, "format", "text")
        self.width: int = getattr(args, "width", 100)
        self.height: int = getattr(args, "height", 40)
        self.rows = max(self.height - HEADER_LINES - FOOTER_LINES, 1)
        self.csv_header = True  # once per output
        self.views: dict[str, LadderView] = {}
        self.palette: dict[str, Style] | None = None
        if self.fmt == "ansi" and colors is not None:
            from liqtui.snapshot import ansi_palette
            from liqtui.ui.run import start_options

            # The TUI's theme; an unknown one: UnknownThemeError (a ConfigError: exit 2).
            options = start_options(settings, args)
            self.palette = ansi_palette(
                options.theme, options.user_themes_dir, monochrome=colors == "mono"
            )
        # 24-bit color where the terminal says it has it; else the 256-color approximation.
        self.truecolor = os.environ.get("COLORTERM", "").lower() in ("truecolor", "24bit")

    def _view(self, symbol: str) -> LadderView:
        from liqtui.ladder import LadderView

        view = self.views.get(symbol)
        if view is None:
            view = self.views[symbol] = LadderView(span_pct=self.settings.ladder.span_pct)
        return view

    def render(self, engine: Engine, symbols: list[str], *, stamp_ms: int | None = None) -> str:
        """All markets' frames; `stamp_ms`: start text/ansi with a timestamp line (--every)."""
        from liqtui import snapshot as sn

        mark = self.settings.ladder.realized_mark_usd
        parts: list[str] = []
        if stamp_ms is not None and self.fmt in ("text", "ansi"):
            parts.append(f"# {sn.iso_time(stamp_ms)}\n")
        for i, symbol in enumerate(symbols):
            snap = engine.snapshot(symbol)
            view = self._view(symbol)
            if self.fmt == "json":
                parts.append(sn.render_json(snap, rows=self.rows, view=view))
            elif self.fmt == "csv":
                parts.append(sn.render_csv(snap, rows=self.rows, view=view, header=self.csv_header))
                self.csv_header = False
            else:
                if i:
                    parts.append("\n")  # a blank line between markets
                w, h = self.width, self.height
                if self.palette is not None:
                    ansi = sn.render_ansi(
                        snap, palette=self.palette, width=w, height=h, view=view,
                        realized_mark_usd=mark, truecolor=self.truecolor,
                    )  # fmt: skip
                    parts.append(ansi)
                else:
                    text = sn.render_text(
                        snap, width=w, height=h, view=view, realized_mark_usd=mark
                    )
                    parts.append(text)
        return "".join(parts)


async def _render_svg(
    engine: Engine, settings: Settings, args: argparse.Namespace, symbol: str
) -> str:
    """The TUI's own screen as SVG: the app, without a source, drawn headless over the engine,
    with the options the TUI would start with (view, color scale, theme, ...)."""
    import dataclasses

    from liqtui.ui.app import LiqApp
    from liqtui.ui.run import start_options

    options = dataclasses.replace(start_options(settings, args), watchlist=(symbol,))
    app = LiqApp(engine, None, **options.app_kwargs())  # type: ignore[arg-type]
    async with app.run_test(headless=True, size=(args.width, args.height)) as pilot:
        await pilot.pause()
        return app.export_screenshot(title=f"liqtui {symbol}")


class _Output:
    """Where snapshots go: stdout (flushed per record), a file replaced atomically, or, with
    --every, a file each record is appended to in one write (a reader never sees half)."""

    def __init__(self, out: IO[str], path: Path | None, *, append: bool) -> None:
        self.out = out
        self.path = path
        self.fd: int | None = None
        self.empty = True  # nothing in the output yet (a CSV header is due)
        if path is not None and append:
            self.fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            self.empty = os.fstat(self.fd).st_size == 0

    def write(self, data: str) -> None:
        if self.fd is not None:
            _write_all(self.fd, data.encode("utf-8"))
            os.fsync(self.fd)
        elif self.path is not None:
            from liqtui.files import write_atomic

            write_atomic(self.path, data)
        else:
            try:
                fd = self.out.fileno()
            except (AttributeError, OSError, ValueError):  # not a real file (tests, wrappers)
                fd = None
            if fd is None:
                self.out.write(data)
                self.out.flush()
            else:  # one write() for the whole record, not one per 8 KB buffer (`>> liq.log`)
                self.out.flush()
                _write_all(fd, data.encode(getattr(self.out, "encoding", None) or "utf-8"))

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _snapshot_format(args: argparse.Namespace, out: IO[str]) -> str:
    """The format: --format as given (an explicit ansi is colored even into a file or a pipe,
    as `ls --color=always`); without it, ansi for a terminal without NO_COLOR (or with --color
    always/none), else text."""
    if getattr(args, "format", None):
        return str(args.format)
    choice = getattr(args, "color", "auto")
    if choice != "auto":
        return "text" if choice == "never" else "ansi"
    if os.environ.get("NO_COLOR") or getattr(args, "output", None) is not None:
        return "text"
    try:
        return "ansi" if out.isatty() else "text"
    except (ValueError, OSError):
        return "text"


def _ansi_colors(settings: Settings, args: argparse.Namespace) -> str | None:
    """For --format ansi: "color", "mono" (attributes only: --color none, or color "none" in
    the TUI's --color / [general] color) or None (--color never: the text format)."""
    if getattr(args, "format", "text") != "ansi":
        return None
    choice = getattr(args, "color", "auto")
    if choice == "never":
        return None
    tui_color = getattr(args, "tui_color", None) or settings.general.color
    return "mono" if choice == "none" or (choice == "auto" and tui_color == "none") else "color"


def _snapshot_symbols(settings: Settings, args: argparse.Namespace) -> list[str]:
    """The markets to print; raises _UsageError for argument combinations that cannot work."""
    fmt = getattr(args, "format", "text")
    every = getattr(args, "every", None)
    output = getattr(args, "output", None)
    if every is not None and args.replay is not None:
        raise _UsageError("--every needs a live feed or --demo; a replay prints in one go")
    if every is not None and fmt == "svg":
        raise _UsageError("--every does not go with --format svg (one SVG per file)")
    if getattr(args, "count", None) is not None and every is None:
        raise _UsageError("--count goes with --every")
    if output is not None and not output.parent.is_dir():
        raise _UsageError(f"--output {output}: no folder {output.parent}")
    if output is not None and output.is_dir():
        raise _UsageError(f"--output {output} is a folder")
    symbols = list(dict.fromkeys(args.symbol or settings.general.watchlist))
    if fmt == "svg":
        if args.symbol and len(symbols) > 1:
            raise _UsageError("--format svg draws one market: give one --symbol")
        symbols = symbols[:1]  # the screen the TUI opens on
    return symbols


def _missing(engine: Engine, symbols: list[str], feeds: list[str]) -> tuple[list[str], list[str]]:
    """Markets without a price and feeds without data (an exchange that lists none of the
    markets has none to give)."""
    no_market = [s for s in symbols if engine.snapshot(s).price is None]
    no_feed = [
        f
        for f in feeds
        if (h := engine.feeds.get(f)) is None
        or (h.last_event_ms is None and not set(symbols) <= set(h.unlisted))
    ]
    return no_market, no_feed


def _completeness(
    engine: Engine, symbols: list[str], feeds: list[str], *, live: bool
) -> tuple[int, str | None]:
    """The exit status the data deserves, and the stderr line saying what was missing."""
    no_market, no_feed = _missing(engine, symbols, feeds)
    if len(no_market) == len(symbols):
        reported = set(_failed_feeds(engine, no_feed))  # _wait_for_data named them, one a line
        why = "; ".join(
            f"{f}: {h.last_error}"
            for f in no_feed
            if f not in reported and (h := engine.feeds.get(f)) and h.last_error
        )
        return EXIT_UNAVAILABLE, f"liqtui: no data for {', '.join(no_market)}" + (
            f" ({why})" if why else ""
        )
    if no_market or no_feed:
        what = [f"market {m}" for m in no_market] + [
            f"feed {f} ({engine.feeds[f].last_error or 'no data'})"
            if f in engine.feeds
            else f"feed {f}"
            for f in no_feed
        ]
        message = f"liqtui: partial data: nothing from {', '.join(what)}"
        return (EXIT_PARTIAL if live else EXIT_UNAVAILABLE), message
    return EXIT_OK, None


GIVE_UP_AFTER = 3  # failed connection attempts in a row: a snapshot stops waiting for a feed


def _failed_feeds(engine: Engine, feeds: list[str]) -> list[str]:
    """Feeds without data whose last GIVE_UP_AFTER connection attempts all failed."""
    return [
        f
        for f in feeds
        if (h := engine.feeds.get(f)) is not None
        and h.last_event_ms is None
        and h.failures >= GIVE_UP_AFTER
    ]


async def _wait_for_data(
    engine: Engine, symbols: list[str], feeds: list[str], wait_s: float, stop: asyncio.Event
) -> None:
    """Until every market and feed has data, `wait_s` elapses or `stop` is set, or every feed
    still missing has failed (unreachable: no network, a refused port) while no working feed
    could still bring a missing market. Then one line per failed feed on stderr."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        no_market, no_feed = _missing(engine, symbols, feeds)
        if not no_market and not no_feed:
            break
        failed = _failed_feeds(engine, no_feed)
        if no_feed and len(failed) == len(no_feed) and (not no_market or failed == feeds):
            for name in failed:
                health = engine.feeds[name]
                print(
                    f"liqtui: {name}: gave up after {health.failures} failed attempts"
                    f" ({health.last_error or 'no answer'})",
                    file=sys.stderr,
                )
            return
        if await _stopped_within(stop, 0.1):
            return
    # Let first prices settle into one model step before printing.
    await _stopped_within(stop, 0.2)


async def _stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True as soon as `stop` is set."""
    import asyncio

    try:
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
    except TimeoutError:
        return False
    return True


async def _collect_live(
    source: LiveSource, engine: Engine, symbols: list[str], feeds: list[str], wait_s: float
) -> None:
    """Run the live feeds until every market and feed has data, or `wait_s` elapses."""
    import asyncio

    task = asyncio.create_task(source.run(engine))
    try:
        await _wait_for_data(engine, symbols, feeds, wait_s, asyncio.Event())
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _run_every(
    source: DemoSource | LiveSource,
    engine: Engine,
    symbols: list[str],
    feeds: list[str],
    args: argparse.Namespace,
    printer: _Printer,
    output: _Output,
) -> int:
    """One record per period until SIGTERM/SIGINT (exit 0) or --count records (the last
    record's status). Periods sit on a fixed grid from the first record; a period missed
    (suspended machine, slow disk) is skipped, not caught up."""
    import asyncio
    import signal
    import time

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    live = not args.demo
    task: asyncio.Task[None] | None = None
    status, reported = EXIT_OK, None
    try:
        if not live:  # the demo's warm-up, in one go, so the first record has its history
            source.run_sync(engine)  # type: ignore[union-attr]
        task = asyncio.create_task(source.run(engine))
        await _wait_for_data(engine, symbols, feeds, args.wait, stop)
        period = args.every / 1000
        next_at = loop.time()
        written = 0
        while not stop.is_set():
            if task.done():  # a source never ends on its own: surface why it did
                task.result()
                raise RuntimeError("the feed stopped")
            record = printer.render(engine, symbols, stamp_ms=int(time.time() * 1000))
            try:
                output.write(record)
            except BrokenPipeError:  # `| head`: the reader is done, so are we
                _silence_stdout()
                return EXIT_OK
            written += 1
            status, message = _completeness(engine, symbols, feeds, live=True)
            recorder = getattr(source, "recorder", None)
            if recorder is not None and recorder.error is not None:  # the records go on
                message = f"liqtui: recording FAILED: {recorder.error}"
            if message != reported:  # one line per change, not one per record
                print(message or "liqtui: all markets and feeds have data", file=sys.stderr)
                reported = message
            if args.count is not None and written >= args.count:
                return status
            next_at += period
            now = loop.time()
            if next_at < now:
                next_at += period * math.ceil((now - next_at) / period)
            await _stopped_within(stop, next_at - now)
        return EXIT_OK
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the exit flush cannot complain."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def run_snapshot(
    settings: Settings, args: argparse.Namespace, *, out: IO[str] | None = None
) -> int:
    """Feed the source into the engine, then print one frame per market (or, with --every,
    one record per period)."""
    import asyncio

    out = out or sys.stdout
    if getattr(args, "schema", False):
        from liqtui.snapshot import schema_text

        out.write(schema_text())
        out.flush()
        return EXIT_OK
    args.format = _snapshot_format(args, out)
    symbols = _snapshot_symbols(settings, args)
    every = getattr(args, "every", None)
    path = getattr(args, "output", None)
    engine = _make_engine(settings, args)
    recorder = _open_recorder(args)
    # --every on the demo runs on the wall clock, so the records' times are real times.
    source = _make_source(settings, args, headless=every is None, recorder=recorder)
    live = not (args.demo or args.replay is not None)
    feeds = list(settings.feeds.exchanges) if live else []
    printer = _Printer(settings, args, colors=_ansi_colors(settings, args))
    output = _Output(out, path, append=every is not None)
    try:
        if every is not None:
            printer.csv_header = output.empty
            status = asyncio.run(
                _run_every(source, engine, symbols, feeds, args, printer, output)  # type: ignore[arg-type]
            )
            if recorder is not None:
                recorder.close()  # its last second first: the status says if the recording failed
            return EXIT_IOERR if _recording_failed(recorder) else status
        if live:
            asyncio.run(_collect_live(source, engine, symbols, feeds, args.wait))  # type: ignore[arg-type]
        else:
            source.run_sync(engine)  # type: ignore[union-attr]
        problem = getattr(source, "problem", lambda: None)()
        if problem is not None:  # an empty or garbage replay file: no frame "as of 1970"
            return _fail(problem, EXIT_UNAVAILABLE)
        if printer.fmt == "svg":
            data = asyncio.run(_render_svg(engine, settings, args, symbols[0]))
        else:
            data = printer.render(engine, symbols)
        try:
            output.write(data)
        except BrokenPipeError:  # `| head`: the reader has what it wanted
            _silence_stdout()
    finally:
        output.close()
        if recorder is not None:
            recorder.close()
    status, message = _completeness(engine, symbols, feeds, live=live)
    if message:
        print(message, file=sys.stderr)
    return EXIT_IOERR if _recording_failed(recorder) else status


def run_record(settings: Settings, args: argparse.Namespace) -> int:
    """Record the live feeds until SIGINT or SIGTERM, or until the file cannot be written
    (exit 74, the file and the cause on stderr); a progress line on stderr now and then."""
    import asyncio
    import contextlib
    import signal
    import time

    from liqtui.feeds.live import LiveSource
    from liqtui.model.engine import Engine

    symbols = list(args.symbols or settings.general.watchlist)
    path = args.out or Path(time.strftime("liqtui-%Y%m%d-%H%M%S.jsonl.gz"))
    recorder = _recorder(path, "--out")
    engine = Engine(params=settings.model_params())
    source = LiveSource(settings, symbols, recorder=recorder)
    print(f"liqtui: recording {', '.join(symbols)} to {path} (ctrl+c stops)", file=sys.stderr)

    async def main() -> None:
        task = asyncio.create_task(source.run(engine))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        next_status = loop.time() + RECORD_STATUS_S
        # Recording is all this command does: a write error ends it at once.
        while not stop.is_set() and recorder.error is None:
            if await _stopped_within(stop, min(1.0, next_status - loop.time())):
                break
            if loop.time() >= next_status and recorder.error is None:
                next_status += RECORD_STATUS_S
                states = ", ".join(f"{f.name} {f.state}" for f in engine.feeds.values())
                print(f"liqtui: {recorder.lines_on_disk} lines written; {states}", file=sys.stderr)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    try:
        if recorder.error is None:
            asyncio.run(main())
    finally:
        recorder.close()
    if _recording_failed(recorder):
        return EXIT_IOERR
    print(f"liqtui: {recorder.summary()}", file=sys.stderr)
    return EXIT_OK


def run_tui(settings: Settings, args: argparse.Namespace) -> int:
    from liqtui.ui.lifecycle import Lifecycle
    from liqtui.ui.run import make_app, prepare_terminal, start_options

    theme = prepare_terminal(settings, args)  # colors: before anything imports Textual
    options = start_options(settings, args, theme_override=theme)  # unknown theme: exit 2
    engine = _make_engine(settings, args)
    # SIGHUP, a hung-up terminal or SIGTERM: the app exits (129, 143); if Textual cannot,
    # the recording is closed and the process ends anyway (docs/tui.md).
    lifecycle = Lifecycle()
    lifecycle.install()
    try:
        recorder = _open_recorder(args)
        if recorder is not None:
            lifecycle.add_closer(recorder.close)
        source = _make_source(settings, args, headless=False, recorder=recorder)
        app = make_app(options, args, engine, source, theme_override=theme)
        try:
            app.run()
        finally:
            lifecycle.close_all()
    finally:
        lifecycle.uninstall()
    if lifecycle.status:
        return lifecycle.status
    if _recording_failed(recorder):  # the status line said so; the terminal is back now
        return app.return_code or EXIT_IOERR
    return app.return_code or EXIT_OK


def run_calibrate(settings: Settings, args: argparse.Namespace) -> int:
    """`liqtui calibrate` (liqtui.model.calibrate): metrics, --write, --refresh-tiers."""
    from liqtui.model.calibrate import run_calibrate as calibrate

    return calibrate(settings, args)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from liqtui.config import ConfigError, load_settings

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return _fail(str(exc))
    if getattr(args, "preset", None) == "fitted" and not settings.model.fitted_weights:
        return _fail(
            "--preset fitted needs model.fitted_weights in your config "
            "(liqtui calibrate --fit-weights --write fits them)"
        )
    try:
        if args.command == "snapshot":
            return run_snapshot(settings, args)
        if args.command == "record":
            return run_record(settings, args)
        if args.command == "calibrate":
            return run_calibrate(settings, args)
        from liqtui.ui.lifecycle import HANGUP_STATUS, terminal_gone

        if terminal_gone():  # hung up while starting (isatty() would say "redirected")
            return HANGUP_STATUS
        if not sys.stdout.isatty():
            # Textual draws on stderr; with stdout redirected a frame is what the user wants.
            args.wait, args.format, args.width, args.height = 20.0, "text", 100, 40
            return run_snapshot(settings, args)
        return run_tui(settings, args)
    except _UsageError as exc:
        return _fail(str(exc))
    except ConfigError as exc:  # also a theme that does not exist (UnknownThemeError)
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
