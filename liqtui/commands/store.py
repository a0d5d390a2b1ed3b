"""`liqtui store info|prune|export|import`: what the local store keeps (liqtui.store), delete old
rows, write every row out as JSON Lines or CSV, take a recording's data in. The store's folder:
--store-dir, else `[store] dir`, else the default (`$XDG_STATE_HOME/liqtui`, usually
`~/.local/state/liqtui`).
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from liqtui.commands.common import EXIT_OK, EXIT_UNAVAILABLE, fail, store_dir
from liqtui.durations import parse_duration
from liqtui.events import Liquidation, MarketEvent, implausible
from liqtui.health import FeedHealth
from liqtui.store import (
    STORE_FILE,
    ExportFormat,
    Store,
    StoreInfo,
    open_store,
)

if TYPE_CHECKING:
    from liqtui.config import Settings

DEFAULT_RETENTION_MS = 30 * 86_400_000
LOCK_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class StoreOptions:
    """`liqtui store ACTION [flags]`."""

    action: str  # info, prune, export or import
    directory: Path
    format: str = "text"  # info: text or json; export: jsonl or csv
    older_than_ms: int = DEFAULT_RETENTION_MS  # prune
    output: Path | None = None  # export (None: stdout)
    recording: Path | None = None  # import

    @classmethod
    def from_args(cls, args: argparse.Namespace, settings: Settings) -> StoreOptions:
        action = args.store_command
        fmt = getattr(args, "format", None) or ("text" if action == "info" else "jsonl")
        return cls(
            action=action,
            directory=args.store_dir or store_dir(settings),
            format=fmt,
            older_than_ms=getattr(args, "older_than", None)
            or parse_duration(settings.store.retention),
            output=getattr(args, "output", None),
            recording=getattr(args, "recording", None),
        )

    @property
    def path(self) -> Path:
        return self.directory / STORE_FILE


def main(settings: Settings, args: argparse.Namespace, *, out: IO[str] | None = None) -> int:
    return run(StoreOptions.from_args(args, settings), out=out)


def _utc(ms: int | None) -> str:
    if ms is None:
        return "-"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000
    return f"{n} B"


def info_json(info: StoreInfo, exists: bool = True) -> dict[str, Any]:
    return {
        "path": info.path,
        "exists": exists,
        "size_bytes": info.size_bytes,
        "schema_version": info.schema_version,
        "exchanges": list(info.exchanges),
        "symbols": list(info.symbols),
        "first_ms": info.first_ms,
        "last_ms": info.last_ms,
        "minute_rows": info.minute_rows,
        "print_rows": info.print_rows,
        "markets": [
            {
                "exchange": m.exchange,
                "symbol": m.symbol,
                "first_ms": m.first_ms,
                "last_ms": m.last_ms,
                "minute_rows": m.minutes,
                "print_rows": m.prints,
            }
            for m in info.markets
        ],
    }


def info_text(info: StoreInfo) -> str:
    lines = [
        f"store {info.path} ({_size(info.size_bytes)}, schema {info.schema_version})",
        f"{len(info.symbols)} markets on {len(info.exchanges)} exchanges, "
        f"{info.minute_rows:,} minute rows, {info.print_rows:,} prints, "
        f"{_utc(info.first_ms)} to {_utc(info.last_ms)} UTC",
    ]
    for m in info.markets:
        lines.append(
            f"  {m.exchange:<12} {m.symbol:<10} {m.minutes:>9,} minutes {m.prints:>9,} prints"
            f"   {_utc(m.first_ms)} to {_utc(m.last_ms)}"
        )
    return "\n".join(lines)


def _open(options: StoreOptions) -> Store | None:
    store = open_store(options.directory, lock_timeout_s=LOCK_TIMEOUT_S)
    if not store.available:
        fail(store.warning or f"store {options.path} cannot be opened", EXIT_UNAVAILABLE)
        store.close()
        return None
    if store.warning:
        print(f"liqtui: warning: {store.warning}", file=sys.stderr)
    return store


def run(options: StoreOptions, *, out: IO[str] | None = None) -> int:
    out = out or sys.stdout
    if options.action == "import":
        return import_recording(options, out)
    if not options.path.exists():
        if options.action == "export":
            return fail(f"no store at {options.path} (nothing kept yet)", EXIT_UNAVAILABLE)
        if options.action == "info" and options.format == "json":
            empty = StoreInfo(str(options.path), 0, 0, ())
            print(json.dumps(info_json(empty, exists=False)), file=out)
        else:
            print(f"no store at {options.path} (nothing kept yet)", file=out)
        return EXIT_OK
    store = _open(options)
    if store is None:
        return EXIT_UNAVAILABLE
    try:
        if options.action == "info":
            info = store.info()
            if options.format == "json":
                print(json.dumps(info_json(info)), file=out)
            else:
                print(info_text(info), file=out)
        elif options.action == "prune":
            cutoff = int(time.time() * 1000) - options.older_than_ms
            result = store.prune(cutoff)
            print(
                f"pruned {result.minutes:,} minute rows and {result.prints:,} prints "
                f"older than {_utc(cutoff)} UTC",
                file=out,
            )
        else:
            fmt: ExportFormat = "csv" if options.format == "csv" else "jsonl"
            if options.output is None:
                store.export(fmt, out)
            else:
                with options.output.open("w", encoding="utf-8", newline="") as f:
                    store.export(fmt, f)
    except sqlite3.Error as exc:
        return fail(f"store {options.path}: {' '.join(str(exc).split())}", EXIT_UNAVAILABLE)
    finally:
        store.close()
    return EXIT_OK


class _Collector:
    """The sink a replay delivers to when it is imported: events go to the store in batches."""

    BATCH = 50_000

    def __init__(self, store: Store) -> None:
        self.store = store
        self.events = 0
        self.prints = 0
        self.feeds: dict[str, FeedHealth] = {}
        self._batch: list[MarketEvent] = []

    def apply(self, event: MarketEvent) -> bool:
        if implausible(event) is not None:
            return False
        self._batch.append(event)
        self.events += 1
        self.prints += isinstance(event, Liquidation)
        if len(self._batch) >= self.BATCH:
            self.hand_over()
        return True

    def advance(self, now_ms: int) -> None:
        pass

    def feed(self, name: str) -> FeedHealth:
        health = self.feeds.get(name)
        if health is None:
            health = self.feeds[name] = FeedHealth(name)
        return health

    def hand_over(self) -> None:
        batch, self._batch = self._batch, []
        self.store.write(batch)


def import_recording(options: StoreOptions, out: IO[str]) -> int:
    """`liqtui store import FILE`: a recording's data into the store (replay and demo never
    write the store on their own). Minutes merge and prints dedupe as with any writer, so a
    recording of a run that also wrote the store counts nothing twice."""
    from liqtui.feeds.replay import ReplaySource

    recording = options.recording
    if recording is None or not recording.is_file():
        return fail(f"{recording}: no such recording", EXIT_UNAVAILABLE)
    store = _open(options)
    if store is None:
        return EXIT_UNAVAILABLE
    try:
        sink = _Collector(store)
        source = ReplaySource(recording, speed=None)
        source.run_sync(sink)
        sink.hand_over()
        problem = source.problem()
        if problem is not None:
            return fail(problem, EXIT_UNAVAILABLE)
        if not store.flush(timeout=600):
            return fail(f"store {options.path}: the import was not committed in time")
        stats = store.stats
        if stats.errors:
            return fail(f"store {options.path}: {stats.last_error}", EXIT_UNAVAILABLE)
        skipped = source.stats.skipped
        print(
            f"imported {sink.events:,} events ({sink.prints:,} prints; "
            f"{stats.duplicates:,} already stored) from {recording} into {options.path}"
            + (f"; {skipped:,} bad lines skipped" if skipped else ""),
            file=out,
        )
    finally:
        store.close()
    return EXIT_OK
