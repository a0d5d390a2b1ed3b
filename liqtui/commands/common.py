"""What several commands share: exit statuses, usage errors, and making the source, the engine
and the recorder from the options. Imports nothing heavy at import time (`--help` stays quick).
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import asyncio

    from liqtui.config import Settings
    from liqtui.demo import DemoSource
    from liqtui.feeds.live import LiveSource
    from liqtui.feeds.recording import Recorder
    from liqtui.feeds.replay import ReplaySource
    from liqtui.model.engine import Engine

EXIT_OK, EXIT_UNAVAILABLE, EXIT_USAGE, EXIT_PARTIAL = 0, 1, 2, 3
EXIT_IOERR = 74  # sysexits' EX_IOERR: the recording could not be written
DEMO_START_MS = 1_767_225_600_000  # 2026-01-01 UTC: headless demo runs are reproducible


class UsageError(Exception):
    """Arguments that cannot work together: one line on stderr, exit 2."""


def fail(message: str, status: int = EXIT_USAGE) -> int:
    print(f"liqtui: error: {message}", file=sys.stderr)
    return status


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """Where the data comes from and how the engine sees it (the flags `liqtui` and `liqtui
    snapshot` share): live feeds, --demo or --replay FILE, for --symbol (none: the watchlist)."""

    symbols: tuple[str, ...]  # --symbol, else the watchlist (in the order given)
    demo: bool = False
    replay: Path | None = None
    speed: str | None = None  # as written ("max" or a number): checked by the parser
    seed: int | None = None
    window_ms: int | None = None
    preset: str | None = None
    record: Path | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace, settings: Settings) -> SourceOptions:
        return cls(
            symbols=tuple(args.symbol or settings.general.watchlist),
            demo=args.demo,
            replay=args.replay,
            speed=args.speed,
            seed=args.seed,
            window_ms=args.window,
            preset=args.preset,
            record=args.record,
        )

    @property
    def live(self) -> bool:
        return not self.demo and self.replay is None


@dataclass(frozen=True, slots=True)
class ScreenOptions:
    """The flags that shape the TUI's screen (also drawn by `snapshot --format svg/ansi`):
    as given (None: not given), so that a reload of the config files can still apply them."""

    symbols: tuple[str, ...] | None = None  # --symbol
    window_ms: int | None = None  # --window
    fps: float | None = None
    theme: str | None = None
    view: str | None = None
    color: str = "auto"  # --color (of `liqtui`), else [general] color

    @classmethod
    def from_args(cls, args: argparse.Namespace, settings: Settings) -> ScreenOptions:
        return cls(
            symbols=tuple(args.symbol) if args.symbol else None,
            window_ms=args.window,
            fps=args.fps,
            theme=args.theme,
            view=args.view,
            color=args.tui_color or settings.general.color,
        )

    def app_flags(self) -> argparse.Namespace:
        """The flags as liqtui.ui.options.AppOptions.from_settings reads them."""
        return argparse.Namespace(
            symbol=list(self.symbols) if self.symbols else None,
            window=self.window_ms,
            fps=self.fps,
            theme=self.theme,
            view=self.view,
        )


def make_engine(settings: Settings, source: SourceOptions) -> Engine:
    from liqtui.model.engine import engine_from_settings

    return engine_from_settings(settings, window_ms=source.window_ms, preset=source.preset)


def demo_speed(settings: Settings, speed: str | None) -> float:
    """The simulator's speed: --speed when given (a number in the demo's range; "max" is
    the fastest it runs), else `[demo] speed`."""
    if speed is None:
        return float(settings.demo.speed)
    from liqtui.config import RANGES

    demo_range = RANGES["demo.speed"]
    if speed.lower() == "max":  # a simulator has no end to run to: its top speed
        return float(demo_range.hi)
    try:
        return float(demo_range.parse(speed))
    except ValueError as exc:
        raise UsageError(f"--speed with --demo: {exc}") from None


def make_source(
    settings: Settings,
    options: SourceOptions,
    *,
    headless: bool,
    recorder: Recorder | None = None,
) -> DemoSource | ReplaySource | LiveSource:
    """The source the options ask for. Live: with the local store and the backfill (their
    warnings on stderr; the TUI shows them in the app instead). Demo and replay never touch
    the store."""
    from liqtui.config import parse_duration, parse_speed

    symbols = list(options.symbols)
    if options.demo:
        from liqtui.demo import DemoSource

        seed = options.seed if options.seed is not None else settings.demo.seed
        return DemoSource(
            symbols,
            seed=seed,
            speed=demo_speed(settings, options.speed),
            warmup_ms=parse_duration(settings.demo.warmup),
            start_ms=DEMO_START_MS if headless else None,
        )
    if options.replay is not None:
        from liqtui.feeds.replay import ReplaySource

        if not options.replay.is_file():
            raise FileNotFoundError(f"{options.replay}: no such recording")
        speed = parse_speed(options.speed if options.speed is not None else settings.replay.speed)
        replay = ReplaySource(
            options.replay,
            speed=None if headless else speed,
            max_gap_s=parse_duration(settings.replay.max_gap) / 1000,
        )
        # The TUI's replay stays at its end, finished: its controls can still seek back.
        replay.playback.hold_at_end = not headless
        return replay
    from liqtui.feeds.live import LiveSource
    from liqtui.feeds.preload import HistoryOptions

    directory = store_dir(settings)
    history = HistoryOptions.from_settings(settings, directory, window_ms=options.window_ms)
    return LiveSource(settings, symbols, recorder=recorder, history=history, warn=warn)


def store_dir(settings: Settings) -> Path:
    """The local store's folder: `[store] dir`, else $XDG_STATE_HOME/liqtui."""
    if settings.store.dir:
        return Path(settings.store.dir).expanduser()
    from liqtui.store import default_store_dir

    return default_store_dir()


def warn(message: str) -> None:
    """One warning line on stderr (the store moved aside, ...)."""
    print(f"liqtui: warning: {message}", file=sys.stderr)


def open_recorder(options: SourceOptions) -> Recorder | None:
    """The recorder for --record (None without it)."""
    if options.record is None:
        return None
    if not options.live:
        raise UsageError("--record records live feeds; it does not go with --demo or --replay")
    return make_recorder(options.record, "--record")


def make_recorder(path: Path, flag: str) -> Recorder:
    """The recorder for `path` (a missing folder is a bad argument). It does not raise when the
    file cannot be written: its `error` says why, and the caller reports it."""
    from liqtui.feeds.recording import Recorder

    if not path.parent.is_dir():
        raise UsageError(f"{flag} {path}: no folder {path.parent}")
    if path.is_dir():
        raise UsageError(f"{flag} {path} is a folder")
    return Recorder(path)


def recording_failed(recorder: Recorder | None) -> bool:
    """Say on stderr that the recording failed, naming the file and the cause."""
    if recorder is None or recorder.error is None:
        return False
    print(
        f"liqtui: error: recording FAILED: {recorder.error} ({recorder.lines_on_disk} lines "
        f"written before the failure; {recorder.lost} lost or cut off)",
        file=sys.stderr,
    )
    return True


async def stopped_within(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep up to `seconds`; True as soon as `stop` is set."""
    import asyncio

    try:
        await asyncio.wait_for(stop.wait(), timeout=max(seconds, 0.0))
    except TimeoutError:
        return False
    return True


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> list[signal.Signals]:
    """Set `stop` on SIGINT and SIGTERM (where the loop can handle signals); the signals
    handled, for `loop.remove_signal_handler` when done."""
    handled: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    return handled
