"""`liqtui snapshot`: one frame per market (text, ansi, json, csv, svg), or one record per
period with --every. Also what `liqtui` prints when stdout is not a terminal.

Imports no Textual: `--format svg` (the TUI's own screen) and `--format ansi` (the TUI's theme)
ask liqtui.commands.tui, lazily.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from liqtui.commands.common import (
    EXIT_IOERR,
    EXIT_OK,
    EXIT_PARTIAL,
    EXIT_UNAVAILABLE,
    ScreenOptions,
    SourceOptions,
    UsageError,
    fail,
    make_engine,
    make_source,
    open_recorder,
    recording_failed,
    stop_on_signals,
    stopped_within,
)

if TYPE_CHECKING:
    import asyncio

    from rich.style import Style

    from liqtui.config import Settings
    from liqtui.demo import DemoSource
    from liqtui.feeds.live import LiveSource
    from liqtui.feeds.recording import Recorder
    from liqtui.model.engine import Engine
    from liqtui.output.ladder import LadderView

GIVE_UP_AFTER = 3  # failed connection attempts in a row: a snapshot stops waiting for a feed


@dataclass(frozen=True, slots=True)
class SnapshotOptions:
    """`liqtui snapshot [flags]` (the defaults: what `liqtui` prints into a pipe)."""

    source: SourceOptions
    screen: ScreenOptions
    format: str | None = None  # None: ansi on a terminal, else text (see snapshot_format)
    width: int = 100
    height: int = 40
    wait: float = 20.0  # live: seconds to wait for every feed at most
    every: int | None = None  # ms between records; None: one frame and exit
    count: int | None = None
    output: Path | None = None
    color: str = "auto"  # auto, always, none or never (--color of `snapshot`)
    schema: bool = False

    @classmethod
    def from_args(cls, args: argparse.Namespace, settings: Settings) -> SnapshotOptions:
        return cls(
            source=SourceOptions.from_args(args, settings),
            screen=ScreenOptions.from_args(args, settings),
            format=args.format,
            width=args.width,
            height=args.height,
            wait=args.wait,
            every=args.every,
            count=args.count,
            output=args.output,
            color=args.color,
            schema=args.schema,
        )


def main(settings: Settings, args: argparse.Namespace) -> int:
    return run(SnapshotOptions.from_args(args, settings), settings)


def run(options: SnapshotOptions, settings: Settings, *, out: IO[str] | None = None) -> int:
    """Feed the source into the engine, then print one frame per market (or, with --every,
    one record per period)."""
    import asyncio

    out = out or sys.stdout
    if options.schema:
        from liqtui.output.snapshot import schema_text

        out.write(schema_text())
        out.flush()
        return EXIT_OK
    options = dataclasses.replace(options, format=snapshot_format(options, out))
    symbols = snapshot_symbols(settings, options)
    every = options.every
    engine = make_engine(settings, options.source)
    recorder = open_recorder(options.source)
    # --every on the demo runs on the wall clock, so the records' times are real times.
    source = make_source(settings, options.source, headless=every is None, recorder=recorder)
    live = options.source.live
    feeds = list(settings.feeds.exchanges) if live else []
    printer = Printer(settings, options, colors=ansi_colors(options))
    output = Output(out, options.output, append=every is not None)
    try:
        if every is not None:
            printer.csv_header = output.empty
            status = asyncio.run(
                _run_every(source, engine, symbols, feeds, options, printer, output, recorder)  # type: ignore[arg-type]
            )
            if recorder is not None:
                recorder.close()  # its last second first: the status says if the recording failed
            return EXIT_IOERR if recording_failed(recorder) else status
        if live:
            loading = asyncio.run(_collect_live(source, engine, symbols, feeds, options.wait))  # type: ignore[arg-type]
            priced = any(engine.snapshot(s).price is not None for s in symbols)
            if priced and loading:  # the frame holds what came within --wait
                print(
                    f"liqtui: history still loading after --wait {options.wait:g} s "
                    "(the frame holds what arrived)",
                    file=sys.stderr,
                )
        else:
            source.run_sync(engine)  # type: ignore[union-attr]
        problem = getattr(source, "problem", lambda: None)()
        if problem is not None:  # an empty or garbage replay file: no frame "as of 1970"
            return fail(problem, EXIT_UNAVAILABLE)
        if printer.fmt == "svg":
            from liqtui.commands.tui import render_svg

            size = (options.width, options.height)
            data = asyncio.run(render_svg(engine, settings, options.screen, symbols[0], size))
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
    return EXIT_IOERR if recording_failed(recorder) else status


def snapshot_format(options: SnapshotOptions, out: IO[str]) -> str:
    """The format: --format as given (an explicit ansi is colored even into a file or a pipe,
    as `ls --color=always`); without it, ansi for a terminal without NO_COLOR (or with --color
    always/none), else text."""
    if options.format:
        return options.format
    if options.color != "auto":
        return "text" if options.color == "never" else "ansi"
    if os.environ.get("NO_COLOR") or options.output is not None:
        return "text"
    try:
        return "ansi" if out.isatty() else "text"
    except (ValueError, OSError):
        return "text"


def ansi_colors(options: SnapshotOptions) -> str | None:
    """For --format ansi: "color", "mono" (attributes only: --color none, or color "none" in
    the TUI's --color / [general] color) or None (--color never: the text format)."""
    if options.format != "ansi":
        return None
    choice = options.color
    if choice == "never":
        return None
    tui_color = options.screen.color
    return "mono" if choice == "none" or (choice == "auto" and tui_color == "none") else "color"


def snapshot_symbols(settings: Settings, options: SnapshotOptions) -> list[str]:
    """The markets to print; raises UsageError for argument combinations that cannot work."""
    fmt, every, output = options.format, options.every, options.output
    if every is not None and options.source.replay is not None:
        raise UsageError("--every needs a live feed or --demo; a replay prints in one go")
    if every is not None and fmt == "svg":
        raise UsageError("--every does not go with --format svg (one SVG per file)")
    if options.count is not None and every is None:
        raise UsageError("--count goes with --every")
    if output is not None and not output.parent.is_dir():
        raise UsageError(f"--output {output}: no folder {output.parent}")
    if output is not None and output.is_dir():
        raise UsageError(f"--output {output} is a folder")
    symbols = list(dict.fromkeys(options.source.symbols))
    if fmt == "svg":
        if options.screen.symbols and len(symbols) > 1:
            raise UsageError("--format svg draws one market: give one --symbol")
        symbols = symbols[:1]  # the screen the TUI opens on
    return symbols


class Printer:
    """Draws every market's frame in the chosen format. One per run, so each market's ladder
    view (which prices the rows cover) stays put from one --every record to the next."""

    def __init__(self, settings: Settings, options: SnapshotOptions, *, colors: str | None) -> None:
        from liqtui.output.render import FOOTER_LINES, HEADER_LINES

        self.settings = settings
        self.fmt: str = options.format or "text"
        self.width: int = options.width
        self.height: int = options.height
        self.rows = max(self.height - HEADER_LINES - FOOTER_LINES, 1)
        self.csv_header = True  # once per output
        self.views: dict[str, LadderView] = {}
        self.palette: dict[str, Style] | None = None
        if self.fmt == "ansi" and colors is not None:
            from liqtui.commands.tui import start_options
            from liqtui.ui.themes import ansi_palette

            # The TUI's theme; an unknown one: UnknownThemeError (a ConfigError: exit 2).
            app_options = start_options(settings, options.screen)
            self.palette = ansi_palette(
                app_options.theme, app_options.user_themes_dir, monochrome=colors == "mono"
            )
        # 24-bit color where the terminal says it has it; else the 256-color approximation.
        self.truecolor = os.environ.get("COLORTERM", "").lower() in ("truecolor", "24bit")

    def _view(self, symbol: str) -> LadderView:
        from liqtui.output.ladder import LadderView

        view = self.views.get(symbol)
        if view is None:
            view = self.views[symbol] = LadderView(span_pct=self.settings.ladder.span_pct)
        return view

    def render(self, engine: Engine, symbols: list[str], *, stamp_ms: int | None = None) -> str:
        """All markets' frames; `stamp_ms`: start text/ansi with a timestamp line (--every)."""
        from liqtui.model.overview import overview_row
        from liqtui.output import snapshot as sn
        from liqtui.output.render import iso_time

        mark = self.settings.ladder.realized_mark_usd
        parts: list[str] = []
        if stamp_ms is not None and self.fmt in ("text", "ansi"):
            parts.append(f"# {iso_time(stamp_ms)}\n")
        for i, symbol in enumerate(symbols):
            snap = engine.snapshot(symbol)
            view = self._view(symbol)
            if self.fmt == "json":
                row = overview_row(engine, snap)
                parts.append(sn.render_json(snap, rows=self.rows, view=view, overview=row))
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


class Output:
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


def _silence_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the exit flush cannot complain."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


# -- what is missing ----------------------------------------------------------------------------


def missing(engine: Engine, symbols: list[str], feeds: list[str]) -> tuple[list[str], list[str]]:
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
    no_market, no_feed = missing(engine, symbols, feeds)
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


def _failed_feeds(engine: Engine, feeds: list[str]) -> list[str]:
    """Feeds without data whose last GIVE_UP_AFTER connection attempts all failed."""
    return [
        f
        for f in feeds
        if (h := engine.feeds.get(f)) is not None
        and h.last_event_ms is None
        and h.failures >= GIVE_UP_AFTER
    ]


# -- running the source -------------------------------------------------------------------------


def _history_pending(source: object, engine: Engine, feeds: list[str]) -> bool:
    """The live source's history (the store, the backfill) is still loading on a feed that has
    not given up (a feed that cannot connect is not waited for). Other sources have none."""
    if getattr(source, "history_ready", True):
        return False
    if getattr(source, "store_loading", False):
        return True  # local: waited for even when the exchanges cannot be reached
    failed = set(_failed_feeds(engine, feeds))
    return any(
        (h := engine.feeds.get(f)) is None or h.history in ("", "loading")
        for f in feeds
        if f not in failed
    )


async def _wait_for_data(
    engine: Engine,
    symbols: list[str],
    feeds: list[str],
    wait_s: float,
    stop: asyncio.Event,
    source: object = None,
) -> None:
    """Until every market and feed has data and the live source's history (the local store,
    the backfill) is in, `wait_s` elapses or `stop` is set, or every feed still missing has
    failed (unreachable: no network, a refused port) while no working feed could still bring a
    missing market. Then one line per failed feed on stderr."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait_s
    while loop.time() < deadline:
        no_market, no_feed = missing(engine, symbols, feeds)
        if not no_market and not no_feed and not _history_pending(source, engine, feeds):
            break
        failed = _failed_feeds(engine, no_feed)
        if no_feed and len(failed) == len(no_feed) and (not no_market or failed == feeds):
            local = getattr(source, "store_loading", False)  # the store, not the network
            if (local or not no_market) and _history_pending(source, engine, feeds):
                if await stopped_within(stop, 0.1):
                    return
                continue
            for name in failed:
                health = engine.feeds[name]
                print(
                    f"liqtui: {name}: gave up after {health.failures} failed attempts"
                    f" ({health.last_error or 'no answer'})",
                    file=sys.stderr,
                )
            return
        if await stopped_within(stop, 0.1):
            return
    # Let first prices settle into one model step before printing.
    await stopped_within(stop, 0.2)


async def _collect_live(
    source: LiveSource, engine: Engine, symbols: list[str], feeds: list[str], wait_s: float
) -> bool:
    """Run the live feeds until every market and feed has data and the history is in, or
    `wait_s` elapses; True when history was still loading then."""
    import asyncio

    task = asyncio.create_task(source.run(engine))
    try:
        await _wait_for_data(engine, symbols, feeds, wait_s, asyncio.Event(), source)
        return _history_pending(source, engine, feeds)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _run_every(
    source: DemoSource | LiveSource,
    engine: Engine,
    symbols: list[str],
    feeds: list[str],
    options: SnapshotOptions,
    printer: Printer,
    output: Output,
    recorder: Recorder | None,
) -> int:
    """One record per period until SIGTERM/SIGINT (exit 0) or --count records (the last
    record's status). Periods sit on a fixed grid from the first record; a period missed
    (suspended machine, slow disk) is skipped, not caught up."""
    import asyncio
    import time

    assert options.every is not None
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled = stop_on_signals(loop, stop)
    task: asyncio.Task[None] | None = None
    status, reported = EXIT_OK, None
    try:
        if options.source.demo:  # the warm-up in one go: the first record has its history
            source.run_sync(engine)  # type: ignore[union-attr]
        task = asyncio.create_task(source.run(engine))
        await _wait_for_data(engine, symbols, feeds, options.wait, stop, source)
        period = options.every / 1000
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
            if recorder is not None and recorder.error is not None:  # the records go on
                message = f"liqtui: recording FAILED: {recorder.error}"
            if message != reported:  # one line per change, not one per record
                print(message or "liqtui: all markets and feeds have data", file=sys.stderr)
                reported = message
            if options.count is not None and written >= options.count:
                return status
            next_at += period
            now = loop.time()
            if next_at < now:
                next_at += period * math.ceil((now - next_at) / period)
            await stopped_within(stop, next_at - now)
        return EXIT_OK
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
