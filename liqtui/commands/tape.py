"""`liqtui tape`: the liquidation tape on stdout, one line per print (text or JSON Lines).

Live (the exchanges' public feeds, no history backfill: a tape is of what happens now) until
SIGINT or SIGTERM; `--demo` (the simulator after its warm-up) likewise; `--replay FILE` prints a
recording's prints in one go and exits. Prints reach the model engine as in every other command
(the same dedupe and plausibility gate), and each new one that passes the filters is printed as
it is applied, flushed per line (`| grep`, `>> liq.log`). A reader that goes away (`| head`)
ends the command quietly with status 0.

Imports no Textual.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

from liqtui.commands.common import (
    EXIT_OK,
    EXIT_UNAVAILABLE,
    SourceOptions,
    UsageError,
    demo_speed,
    fail,
    make_engine,
    stop_on_signals,
    warn,
)
from liqtui.events import Liquidation, MarketEvent

if TYPE_CHECKING:
    from liqtui.config import Settings
    from liqtui.demo import DemoSource
    from liqtui.feeds.live import LiveSource
    from liqtui.health import FeedHealth
    from liqtui.model.engine import Engine
    from liqtui.model.tape import TapePrint

TAPE_FORMATS = ("text", "jsonl")


class ReaderGone(Exception):
    """stdout was closed (`| head` has what it wanted): stop quietly."""


@dataclass(frozen=True, slots=True)
class TapeOptions:
    """`liqtui tape [--format text|jsonl] [--min-usd N] [--exchange EX] [source flags]`."""

    source: SourceOptions
    format: str = "text"
    min_usd: float = 0.0
    large_usd: float = 100_000.0
    exchanges: tuple[str, ...] = ()  # none: every exchange
    symbols_given: bool = False  # --symbol: only those markets' prints

    @classmethod
    def from_args(cls, args: argparse.Namespace, settings: Settings) -> TapeOptions:
        source = SourceOptions(
            symbols=tuple(args.symbol or settings.general.watchlist),
            demo=args.demo,
            replay=args.replay,
            speed=args.speed,
            seed=args.seed,
        )
        return cls(
            source=source,
            format=args.format or "text",
            min_usd=settings.tape.min_usd if args.min_usd is None else args.min_usd,
            large_usd=settings.tape.large_usd if args.large_usd is None else args.large_usd,
            exchanges=tuple(dict.fromkeys(args.exchange or ())),
            symbols_given=bool(args.symbol),
        )


class TapeSink:
    """The engine as the source's sink, telling `on_print` of each new print it accepted
    (not refused as implausible, not a duplicate of one it has)."""

    def __init__(self, engine: Engine, on_print: Callable[[Liquidation], None]) -> None:
        self.engine = engine
        self.on_print = on_print

    def feed(self, name: str) -> FeedHealth:
        return self.engine.feed(name)

    def advance(self, now_ms: int) -> None:
        self.engine.advance(now_ms)

    def apply(self, event: MarketEvent) -> bool:
        if type(event) is not Liquidation:
            return True  # the tape needs prints only: nothing else is modelled
        model = self.engine.markets.get(event.symbol)
        before = model.realized.duplicates if model is not None else 0
        if not self.engine.apply(event):
            return False
        if self.engine.markets[event.symbol].realized.duplicates == before:
            self.on_print(event)
        return True


class TapePrinter:
    """Filters prints and writes each as one line; a closed stdout raises ReaderGone."""

    def __init__(self, options: TapeOptions, out: IO[str], *, flush: bool) -> None:
        from liqtui.output import tape as fmt

        self.options = options
        self.out = out
        self.flush = flush
        self.printed = 0
        self.since_ms: int | None = None  # prints before this are not printed (demo warm-up)
        self._line = fmt.json_line if options.format == "jsonl" else fmt.text_line
        self._symbols = set(options.source.symbols) if options.symbols_given else None
        self._exchanges = set(options.exchanges) or None
        self.gone = False  # the reader went away: nothing more is written
        # Called once when the reader goes away: a live feed's dispatcher counts and swallows
        # what a sink raises (a parser bug must not stop a feed), so ReaderGone alone would
        # not stop a live tape.
        self.on_gone: Callable[[], None] | None = None

    def __call__(self, event: Liquidation) -> None:
        from liqtui.model.tape import TapePrint

        if self.gone:
            return
        if event.notional_usd < self.options.min_usd:
            return
        if self._exchanges is not None and event.exchange not in self._exchanges:
            return
        if self._symbols is not None and event.symbol not in self._symbols:
            return
        if self.since_ms is not None and event.time_ms < self.since_ms:
            return
        p = TapePrint(
            event.time_ms, event.exchange, event.symbol, event.side, event.price, event.notional_usd
        )
        self.write(p)

    def write(self, p: TapePrint) -> None:
        try:
            self.out.write(self._line(p, large_usd=self.options.large_usd) + "\n")
            if self.flush:
                self.out.flush()
        except (BrokenPipeError, ValueError) as exc:  # ValueError: stdout closed under us
            self.gone = True
            if self.on_gone is not None:
                self.on_gone()
            raise ReaderGone from exc
        self.printed += 1


def main(settings: Settings, args: argparse.Namespace) -> int:
    return run(TapeOptions.from_args(args, settings), settings)


def run(options: TapeOptions, settings: Settings, *, out: IO[str] | None = None) -> int:
    """Print the tape until the replay ends, or (live, demo) until SIGINT or SIGTERM."""
    import asyncio

    from liqtui import exchanges as registry

    out = out or sys.stdout
    if options.source.speed is not None and not options.source.demo:
        raise UsageError("--speed goes with --demo (a replay prints all its prints at once)")
    unknown = [ex for ex in options.exchanges if ex not in registry.ids()]
    if unknown:
        raise UsageError(
            f"--exchange {unknown[0]}: unknown exchange (known: {', '.join(registry.ids())})"
        )
    engine = make_engine(settings, options.source)
    printer = TapePrinter(options, out, flush=options.source.replay is None)
    sink = TapeSink(engine, printer)
    try:
        if options.source.replay is not None:
            from liqtui.feeds.replay import ReplaySource

            path: Path = options.source.replay
            if not path.is_file():
                raise FileNotFoundError(f"{path}: no such recording")
            replay = ReplaySource(path, speed=None)
            replay.run_sync(sink)
            problem = replay.problem()
            out.flush()
            if problem is not None:
                return fail(problem, EXIT_UNAVAILABLE)
            return EXIT_OK
        asyncio.run(_stream(options, settings, sink, printer))
        if printer.gone:
            raise ReaderGone
        out.flush()
    except ReaderGone:
        _silence_stdout(out)
        return EXIT_OK
    except BrokenPipeError:  # the final flush
        _silence_stdout(out)
        return EXIT_OK
    return EXIT_OK


async def _stream(
    options: TapeOptions, settings: Settings, sink: TapeSink, printer: TapePrinter
) -> None:
    """Run the live feeds (or the simulator) into `sink` until SIGINT/SIGTERM or until the
    reader goes away."""
    import asyncio

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    handled = stop_on_signals(loop, stop)
    symbols = list(options.source.symbols)
    source: DemoSource | LiveSource
    if options.source.demo:
        from liqtui.config import parse_duration
        from liqtui.demo import DemoSource

        seed = options.source.seed if options.source.seed is not None else settings.demo.seed
        source = DemoSource(
            symbols,
            seed=seed,
            speed=demo_speed(settings, options.source.speed),
            warmup_ms=parse_duration(settings.demo.warmup),
        )
        printer.since_ms = source.live_from_ms  # the warm-up is the demo's past, not its tape
    else:
        from liqtui.feeds.live import LiveSource

        source = LiveSource(settings, symbols, warn=warn)  # no history: the tape is of now
    printer.on_gone = stop.set
    task = asyncio.create_task(source.run(sink))
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not task.cancelled():
            task.result()  # ReaderGone (or a source that failed) surfaces here
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        for t in (task, stopped):
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, ReaderGone, Exception):
                await t


def _silence_stdout(out: IO[str]) -> None:
    """After a broken pipe, point stdout at /dev/null so the exit flush cannot complain."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, out.fileno())
