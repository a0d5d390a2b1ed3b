"""`liqtui record`: write every message the live feeds receive to a recording, until SIGINT
or SIGTERM, or until the file cannot be written (exit 74)."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from liqtui.commands.common import (
    EXIT_IOERR,
    EXIT_OK,
    make_recorder,
    recording_failed,
    stopped_within,
    store_dir,
    warn,
)

if TYPE_CHECKING:
    from liqtui.config import Settings

RECORD_STATUS_S = 10.0  # `liqtui record` prints a progress line this often


@dataclass(frozen=True, slots=True)
class RecordOptions:
    """`liqtui record [--out FILE] [SYMBOL ...]`."""

    symbols: tuple[str, ...]  # the markets (none given: the watchlist)
    out: Path | None = None  # None: liqtui-<time>.jsonl.gz in the current folder

    @classmethod
    def from_args(cls, args: argparse.Namespace, settings: Settings) -> RecordOptions:
        return cls(symbols=tuple(args.symbols or settings.general.watchlist), out=args.out)


def main(settings: Settings, args: argparse.Namespace) -> int:
    return run(RecordOptions.from_args(args, settings), settings)


def run(options: RecordOptions, settings: Settings) -> int:
    """Record the live feeds until SIGINT or SIGTERM, or until the file cannot be written
    (exit 74, the file and the cause on stderr); a progress line on stderr now and then."""
    import asyncio
    import contextlib
    import signal
    import time

    from liqtui.feeds.live import LiveSource
    from liqtui.feeds.preload import HistoryOptions
    from liqtui.model.engine import engine_from_settings

    symbols = list(options.symbols)
    path = options.out or Path(time.strftime("liqtui-%Y%m%d-%H%M%S.jsonl.gz"))
    recorder = make_recorder(path, "--out")
    engine = engine_from_settings(settings)  # the fitted parameters too (liqtui.fitted)
    # The store is written as by every live run; the backfill's answers are recorded.
    history = HistoryOptions.from_settings(settings, store_dir(settings))
    source = LiveSource(settings, symbols, recorder=recorder, history=history, warn=warn)
    print(f"liqtui: recording {', '.join(symbols)} to {path} (ctrl+c stops)", file=sys.stderr)

    async def record() -> None:
        task = asyncio.create_task(source.run(engine))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        next_status = loop.time() + RECORD_STATUS_S
        # Recording is all this command does: a write error ends it at once.
        while not stop.is_set() and recorder.error is None:
            if await stopped_within(stop, min(1.0, next_status - loop.time())):
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
            asyncio.run(record())
    finally:
        recorder.close()
    if recording_failed(recorder):
        return EXIT_IOERR
    print(f"liqtui: {recorder.summary()}", file=sys.stderr)
    return EXIT_OK
