"""Command line: `liqtui` (the terminal UI), `liqtui snapshot` (headless frames), `liqtui
record` (write a recording of the live feeds) and `liqtui calibrate`.

This module builds the parser (every flag, its range and help: one place shows the whole
command line, and `--help` imports nothing heavy), loads the settings, dispatches to
liqtui.commands and turns what goes wrong into one line on stderr and an exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from liqtui import __version__
from liqtui.commands.common import EXIT_USAGE, UsageError, fail

if TYPE_CHECKING:
    from liqtui.config import Settings

SNAPSHOT_FORMATS = ("text", "ansi", "json", "csv", "svg")
SNAPSHOT_COLORS = ("auto", "always", "none", "never")

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
        description="Replay a recording (or the simulator) and compare, per window and side, "
        "the notional the model's map said price crossed (C) with the realized liquidations "
        "(R), beside the naive ±1/L map and the map-free open interest × excursion baseline, "
        "all on the same windows: the rank correlation controlling for the window's price "
        "excursion (partial Spearman), the plain one, the rank R² over the baseline, and rho = "
        "sum R / sum C (a lower bound from throttled feeds). --format json adds every scored "
        "window. --write stores rho (and with --fit-weights the fitted leverage weights) in "
        "your config. See docs/model.md.",
    )
    _add_calibrate_arguments(cal)
    _add_store_parser(sub)
    _add_tape_parser(sub)
    _add_convert_parser(sub)
    return parser


TAPE_EPILOG = """\
Lines: time (UTC), exchange, market, side (▼ long liquidated: a forced sell; ▲ short), size
in USD, price, and LARGE at or above [tape] large_usd. --format jsonl: one JSON object a line
with time, time_ms, exchange, symbol, side, price, usd, large.

examples:
  liqtui tape --min-usd 100k                        live, every watchlist market
  liqtui tape --exchange binance --format jsonl >> liq.jsonl
  liqtui tape --replay session.jsonl.gz | head
"""


def _add_tape_parser(sub: Any) -> None:
    """`liqtui tape` (liqtui.commands.tape runs it; it checks --exchange)."""
    tape = sub.add_parser(
        "tape",
        help="the liquidation tape on stdout, a line per print (text or JSON Lines)",
        description="Print every liquidation print as it happens, one line each, until "
        "interrupted (live or --demo), or every print of a recording (--replay FILE). "
        "Live runs start with no history: the tape is of what happens from now on.",
        epilog=TAPE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    src = tape.add_mutually_exclusive_group()
    src.add_argument("--demo", action="store_true", help="the built-in market simulator")
    src.add_argument("--replay", metavar="FILE", type=Path, help="every print of a recording")
    tape.add_argument(
        "--speed", type=_speed, metavar="N", help=f"--demo: its speed, {_allowed('demo.speed')}"
    )
    _add_ranged(tape, "--seed", "demo.seed", "--demo: simulator seed", "0", metavar="N")
    tape.add_argument(
        "--symbol",
        action="append",
        type=_symbol,
        metavar="SYM",
        help="market (repeat for several; default: the watchlist; with --replay: every market)",
    )
    tape.add_argument("--format", choices=("text", "jsonl"), help="(text)")
    _add_ranged(
        tape, "--min-usd", "tape.min_usd", "only prints of at least this many USD", "[tape]",
        metavar="USD",
    )  # fmt: skip
    _add_ranged(
        tape, "--large-usd", "tape.large_usd", "mark prints of at least this many USD", "[tape]",
        metavar="USD",
    )  # fmt: skip
    tape.add_argument(
        "--exchange",
        action="append",
        metavar="EX",
        help="only this exchange's prints (repeat for several): binance, bybit, okx, ...",
    )
    tape.add_argument("--config", metavar="FILE", type=Path, help="settings file (overrides yours)")


def _duration(text: str) -> int:
    from liqtui.config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _add_store_parser(sub: Any) -> None:
    """`liqtui store info|prune|export|import` (liqtui.commands.store runs it)."""
    store = sub.add_parser(
        "store",
        help="the local store of collected data: info, prune, export, import",
        description="What liqtui keeps between runs (minute rows and liquidation prints) in "
        "[store] dir, else $XDG_STATE_HOME/liqtui (usually ~/.local/state/liqtui), unless "
        "--store-dir says.",
    )
    actions = store.add_subparsers(dest="store_command", metavar="ACTION", required=True)
    folder = argparse.ArgumentParser(add_help=False)
    folder.add_argument("--store-dir", type=Path, metavar="DIR", help="the store's folder")
    info = actions.add_parser("info", parents=[folder], help="markets, time ranges, rows, size")
    info.add_argument("--format", choices=("text", "json"), help="(text)")
    prune = actions.add_parser("prune", parents=[folder], help="delete old rows")
    prune.add_argument(
        "--older-than",
        type=_duration,
        metavar="DURATION",
        help="rows older than this ([store] retention: 30d)",
    )
    export = actions.add_parser("export", parents=[folder], help="every row, JSON Lines or CSV")
    export.add_argument("--format", choices=("jsonl", "csv"), help="(jsonl)")
    export.add_argument("--output", "-o", type=Path, metavar="FILE", help="(stdout)")
    imported = actions.add_parser(
        "import",
        parents=[folder],
        help="a recording's data into the store (replays never write it on their own)",
    )
    imported.add_argument("recording", type=Path, metavar="FILE", help="a liqtui recording")


def _add_convert_parser(sub: Any) -> None:
    """`liqtui convert-bars CSV --out FILE` (liqtui.commands.convert_bars runs it)."""
    conv = sub.add_parser(
        "convert-bars",
        help="bar CSV (OHLC, OI, liquidation totals) → a recording calibrate can replay",
        description="Convert bar-level data (open/high/low/close, open interest in USD, long and "
        "short liquidation USD per bar; optional taker buy/sell USD and funding) into a liqtui "
        "recording of Binance messages, one synthetic print per bar and side (longs at the low, "
        "shorts at the high): realized notional is placed per bar, not per price, so only "
        "per-window figures of `liqtui calibrate` mean anything on it. Unreadable rows are "
        "counted and skipped. See docs/model.md.",
    )
    conv.add_argument("csv", type=Path, metavar="CSV", help="bar file with a header row")
    conv.add_argument(
        "--out", "-o", type=Path, metavar="FILE", required=True, help="recording (.gz: gzip)"
    )
    conv.add_argument("--symbol", type=_symbol, metavar="SYM", help="market (BTC)")
    conv.add_argument(
        "--bar",
        type=_duration,
        metavar="DURATION",
        help="bar length (default: the most common step between rows)",
    )
    conv.add_argument(
        "--funding-unit",
        choices=("percent", "fraction"),
        default="percent",
        help="unit of the funding column: percent (Coinglass: 0.01 = 0.01%%) or fraction",
    )
    conv.add_argument("--config", metavar="FILE", type=Path, help="settings file (overrides yours)")


def _add_calibrate_arguments(p: argparse.ArgumentParser) -> None:
    """Options of `liqtui calibrate` (liqtui.commands.calibrate runs it; defined here so that
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
    p.add_argument(
        "--fit",
        action="store_true",
        help="fit the market's turnover, half-life and leverage mix on the first part of the "
        "windows, score on the rest; with --write store them in the fitted-parameters file",
    )
    _add_ranged(
        p, "--train", "calibrate.train", "--fit: share of the windows fitted on", "0.6",
        default=0.6, metavar="SHARE",
    )  # fmt: skip
    p.add_argument("--write", action="store_true", help="write ρ (and weights) to your config")
    p.add_argument("--format", choices=("text", "json"), default="text", help="(text)")
    p.add_argument(
        "--refresh-tiers",
        action="store_true",
        help="fetch Bybit risk limits and OKX position tiers into your tiers file",
    )
    p.add_argument("--config", metavar="FILE", type=Path, help="settings file (overrides yours)")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from liqtui.config import ConfigError, load_settings

    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        return fail(str(exc))
    try:
        return _dispatch(settings, args)
    except UsageError as exc:
        return fail(str(exc))
    except ConfigError as exc:  # also a theme that does not exist (UnknownThemeError)
        return fail(str(exc))
    except FileNotFoundError as exc:
        return fail(str(exc).strip("'\""))
    except OSError as exc:
        return fail(f"{exc.strerror or exc}: {getattr(exc, 'filename', '')}")
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # no traceback reaches a user; LIQTUI_DEBUG=1 shows it
        if os.environ.get("LIQTUI_DEBUG"):
            raise
        return fail(f"internal error: {type(exc).__name__}: {exc} (LIQTUI_DEBUG=1 shows more)", 70)


def _dispatch(settings: Settings, args: argparse.Namespace) -> int:
    """Run the command the arguments name (none: the terminal UI)."""
    if args.command == "snapshot":
        from liqtui.commands import snapshot

        return snapshot.main(settings, args)
    if args.command == "record":
        from liqtui.commands import record

        return record.main(settings, args)
    if args.command == "calibrate":
        from liqtui.commands import calibrate

        return calibrate.main(settings, args)
    if args.command == "store":
        from liqtui.commands import store

        return store.main(settings, args)
    if args.command == "tape":
        from liqtui.commands import tape

        return tape.main(settings, args)
    if args.command == "convert-bars":
        from liqtui.commands import convert_bars

        return convert_bars.main(settings, args)
    from liqtui.commands import tui
    from liqtui.ui.lifecycle import HANGUP_STATUS, terminal_gone

    if terminal_gone():  # hung up while starting (isatty() would say "redirected")
        return HANGUP_STATUS
    options = tui.TuiOptions.from_args(args, settings)
    if not sys.stdout.isatty():
        # Textual draws on stderr; with stdout redirected a frame is what the user wants.
        from liqtui.commands import snapshot

        frame = snapshot.SnapshotOptions(options.source, options.screen, format="text")
        return snapshot.run(frame, settings)
    return tui.run(options, settings)
