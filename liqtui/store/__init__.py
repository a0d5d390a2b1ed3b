"""The local store: what liqtui collects (minute rows and realized prints), kept across restarts.

One small interface (`Store`, below) and its rows; `liqtui.store.sqlite` implements it with an
embedded SQLite file (stdlib `sqlite3`, WAL mode, no server). A shared server database can
replace SQLite later by implementing the same protocol. `liqtui.store.minutes` turns normalized
events into minute rows and stored rows back into events (what a minute row keeps and loses is
documented there).

Kept per exchange and market:
- one `MinuteRow` per minute (mark open/high/low/close, the traded flow of the minute: VWAP,
  taker buy and sell volume, trade high/low/close; open interest; funding; None where unknown);
- every realized liquidation print (`liqtui.events.Liquidation`), deduplicated with
  `liqtui.events.print_key`, the key the engine dedupes prints with.

Several processes (a TUI and a `snapshot --every` cron job) may write one store at once: minute
rows merge (high = max, low = min, the earliest open, the latest close, open interest and funding
last known, the taker volumes of the more complete writer, never a sum) and a print is stored
once, so nothing is counted twice.

The store imports nothing from liqtui.model, ui, feeds or textual: events and stdlib only.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal, Protocol

from liqtui.events import Liquidation, MarketEvent

STORE_FILE = "store.sqlite3"
ExportFormat = Literal["jsonl", "csv"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("jsonl", "csv")


def default_store_dir() -> Path:
    """Where the store lives by default: `$XDG_STATE_HOME/liqtui`, else `~/.local/state/liqtui`
    (an empty or relative $XDG_STATE_HOME is ignored, as the XDG spec says)."""
    state = os.environ.get("XDG_STATE_HOME", "")
    base = Path(state) if state and Path(state).is_absolute() else Path.home() / ".local" / "state"
    return base / "liqtui"


@dataclass(frozen=True, slots=True)
class MinuteRow:
    """What one exchange reported about one market during one minute [minute_ms, +60 s) of
    event time. None: not reported in that minute. Prices in USD, quantities in base units."""

    exchange: str
    symbol: str
    minute_ms: int  # start of the minute (a multiple of 60,000)
    open: float | None = None  # mark price: first, highest, lowest, last of the minute
    high: float | None = None
    low: float | None = None
    close: float | None = None
    open_ms: int | None = None  # when the first and the last mark of the minute were observed
    close_ms: int | None = None
    vwap: float | None = None  # traded flow (TradeFlow events) whose time falls in the minute
    taker_buy: float | None = None
    taker_sell: float | None = None
    trade_high: float | None = None
    trade_low: float | None = None
    trade_close: float | None = None
    flow_kline: bool | None = None  # True: the exchange sent klines; False: liqtui summed trades
    open_interest: float | None = None  # last reading of the minute (base units, one side)
    oi_ms: int | None = None
    funding: float | None = None  # last funding rate reported with a mark in the minute


@dataclass(slots=True)
class StoreStats:
    """What happened to the events handed to `Store.write` (nothing is dropped silently).

    written: events in batches that were committed; dropped: events lost (a batch whose commit
    failed, or the queue was full, or the store is unavailable); skipped: events the store does
    not keep (order-book depth) or refuses (implausible values, see liqtui.events.implausible);
    duplicates: prints already in the store; errors / last_error: failed commits, prunes and
    opens, the last one in one line."""

    written: int = 0
    dropped: int = 0
    skipped: int = 0
    duplicates: int = 0
    queued: int = 0  # handed to write() and not yet committed or dropped
    commits: int = 0
    errors: int = 0
    last_error: str | None = None
    pruned_minutes: int = 0
    pruned_prints: int = 0


@dataclass(frozen=True, slots=True)
class MarketInfo:
    exchange: str
    symbol: str
    first_ms: int | None
    last_ms: int | None
    minutes: int
    prints: int


@dataclass(frozen=True, slots=True)
class StoreInfo:
    """What a store keeps (`liqtui store info`)."""

    path: str
    size_bytes: int  # the database file with its -wal and -shm
    schema_version: int
    markets: tuple[MarketInfo, ...]

    @property
    def exchanges(self) -> tuple[str, ...]:
        return tuple(sorted({m.exchange for m in self.markets}))

    @property
    def symbols(self) -> tuple[str, ...]:
        return tuple(sorted({m.symbol for m in self.markets}))

    @property
    def first_ms(self) -> int | None:
        times = [m.first_ms for m in self.markets if m.first_ms is not None]
        return min(times) if times else None

    @property
    def last_ms(self) -> int | None:
        times = [m.last_ms for m in self.markets if m.last_ms is not None]
        return max(times) if times else None

    @property
    def minute_rows(self) -> int:
        return sum(m.minutes for m in self.markets)

    @property
    def print_rows(self) -> int:
        return sum(m.prints for m in self.markets)


@dataclass(frozen=True, slots=True)
class PruneResult:
    minutes: int  # rows deleted
    prints: int


class Store(Protocol):
    """The store's interface. Writing never blocks the caller (an asyncio loop): `write` queues
    and a background thread commits about once a second. Reading (`load`, `minutes`, `prints`,
    `info`, `export`) does block: call it off the loop (asyncio.to_thread) when it matters."""

    @property
    def warning(self) -> str | None:
        """One line for the user when opening did not go as planned (a damaged, newer-schema or
        locked file): what happened and what was done. None: opened normally."""

    @property
    def available(self) -> bool:
        """False when the store could not be opened at all (writes are counted as dropped)."""

    @property
    def stats(self) -> StoreStats:
        """A copy of the write counters."""

    def write(self, events: Iterable[MarketEvent]) -> None:
        """Queue events to be stored (returns at once; never raises)."""

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far is committed (or dropped); False on timeout."""

    def load(
        self,
        start_ms: int,
        end_ms: int,
        symbols: Sequence[str] | None = None,
        exchanges: Sequence[str] | None = None,
    ) -> list[MarketEvent]:
        """Stored data in [start_ms, end_ms) as normalized events in time order, to be fed
        through the same path as a replay (liqtui.store.minutes.events_from_rows says how)."""

    def minutes(
        self,
        start_ms: int,
        end_ms: int,
        symbols: Sequence[str] | None = None,
        exchanges: Sequence[str] | None = None,
    ) -> list[MinuteRow]: ...

    def prints(
        self,
        start_ms: int,
        end_ms: int,
        symbols: Sequence[str] | None = None,
        exchanges: Sequence[str] | None = None,
    ) -> list[Liquidation]: ...

    def prune(self, older_than_ms: int) -> PruneResult:
        """Delete minutes and prints older than `older_than_ms` (epoch ms)."""

    def info(self) -> StoreInfo: ...

    def export(self, format: ExportFormat, out: IO[str]) -> int:
        """Write every row to `out` (JSON Lines or CSV, one row per line, minutes then prints,
        each with a "kind" field); the number of rows written."""

    def close(self, timeout: float = 10.0) -> None:
        """Commit what is queued (within `timeout`) and stop the background thread."""


def open_store(
    directory: Path | None = None,
    *,
    retention_ms: int | None = None,
    lock_timeout_s: float = 10.0,
) -> Store:
    """The SQLite store in `directory` (None: `default_store_dir()`), created when missing.
    Never raises for a bad file: see `liqtui.store.sqlite.SQLiteStore.open`."""
    from liqtui.store.sqlite import SQLiteStore

    path = (directory if directory is not None else default_store_dir()) / STORE_FILE
    return SQLiteStore.open(path, retention_ms=retention_ms, lock_timeout_s=lock_timeout_s)


__all__ = [
    "EXPORT_FORMATS",
    "STORE_FILE",
    "ExportFormat",
    "MarketInfo",
    "MinuteRow",
    "PruneResult",
    "Store",
    "StoreInfo",
    "StoreStats",
    "default_store_dir",
    "open_store",
]
