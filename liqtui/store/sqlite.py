"""The store in an embedded SQLite file (stdlib sqlite3, WAL mode, no server to start).

Tables (schema version in `PRAGMA user_version`; `MIGRATIONS` lists the steps, in order):
- `minutes`: one row per exchange, market and minute, `WITHOUT ROWID`, keyed (exchange, symbol,
  minute_ms); the columns of `liqtui.store.MinuteRow` (NULL where unknown).
- `prints`: every realized liquidation print, `WITHOUT ROWID`, keyed by the symbol and
  `liqtui.events.print_key` (exchange, time_ms, side, quantity, price), stored with
  INSERT OR IGNORE: a print seen twice (by one process or by two) is stored once.

Writing: `write()` only queues (it never blocks the asyncio loop); a background thread folds the
events into minute rows (liqtui.store.minutes) and commits about once a second in one
transaction. WAL with synchronous=NORMAL: a committed transaction survives a kill -9 of the
process, so a crash loses at most the last second or so of queued events. A minute row is written
whole each time it changes and merges with what is stored (upsert): high = max, low = min, the
open observed first, the close (and its funding) observed last, open interest last known, the
taker volumes (with their VWAP and close) of the writer that saw more volume, never a sum. So two
processes writing the same minute (a TUI and a `snapshot --every` cron job) never double count.
A failed commit (a full disk: "database or disk is full", a lock held too long) is counted in
`stats` (errors, last_error, dropped) and never raised; the next commit tries again.

Opening (`SQLiteStore.open`), never a crash, never a traceback:
- a damaged file (not a database, or `PRAGMA quick_check` fails) or a newer schema (user_version
  above ours): the file and its -wal/-shm are moved aside as `<name>.bad-<UTC time>` (with
  `-wal`/`-shm` after that, so the three still open together), a fresh store is created, and
  `warning` says so in one line;
- locked beyond `lock_timeout_s` (another process holds an exclusive lock): nothing is moved.
  SQLite's locks are POSIX locks that the kernel drops when their process dies, so a lock that
  stays means a *live* process holds the file; moving it aside under that process would split
  its data between the moved file and a new one (its open connections keep writing the moved
  file, its new ones the new file), and data would be lost or hidden. The store runs
  unavailable instead: `available` is False, writes are counted as dropped, loads are empty,
  and `warning` says why; the next start tries again.
- a folder that cannot be created or a file that cannot be opened: unavailable the same way.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
import os
import sqlite3
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, fields, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from liqtui.events import PRINT_KEY_FIELDS, Liquidation, MarketEvent, Side
from liqtui.store import (
    ExportFormat,
    MarketInfo,
    MinuteRow,
    PruneResult,
    StoreInfo,
    StoreStats,
)
from liqtui.store.minutes import MinuteAggregator, events_from_rows

BUSY_TIMEOUT_MS = 5_000  # a writer of another process holds the lock for one commit at most
COMMIT_INTERVAL_S = 1.0
PRUNE_INTERVAL_S = 3_600.0
MAX_QUEUE = 1_000_000  # events waiting for the writer; beyond: dropped (and counted)

_MINUTE_COLUMNS: tuple[str, ...] = tuple(f.name for f in fields(MinuteRow))
_PRINT_COLUMNS: tuple[str, ...] = ("symbol", *PRINT_KEY_FIELDS, "notional_usd")

# Each entry moves the schema from version i to i + 1 (PRAGMA user_version).
MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """CREATE TABLE minutes (
            exchange TEXT NOT NULL,
            symbol TEXT NOT NULL,
            minute_ms INTEGER NOT NULL,
            open REAL, high REAL, low REAL, close REAL,
            open_ms INTEGER, close_ms INTEGER,
            vwap REAL, taker_buy REAL, taker_sell REAL,
            trade_high REAL, trade_low REAL, trade_close REAL, flow_kline INTEGER,
            open_interest REAL, oi_ms INTEGER,
            funding REAL,
            PRIMARY KEY (exchange, symbol, minute_ms)
        ) WITHOUT ROWID""",
        """CREATE TABLE prints (
            symbol TEXT NOT NULL,
            exchange TEXT NOT NULL,
            time_ms INTEGER NOT NULL,
            side TEXT NOT NULL CHECK (side IN ('long', 'short')),
            quantity REAL NOT NULL,
            price REAL NOT NULL,
            notional_usd REAL NOT NULL,
            PRIMARY KEY (exchange, symbol, time_ms, side, quantity, price)
        ) WITHOUT ROWID""",
    ),
)
SCHEMA_VERSION = len(MIGRATIONS)


def _newer(column: str, time_column: str) -> str:
    """The incoming value when it was observed at or after the stored one (or none is stored)."""
    return (
        f"CASE WHEN excluded.{time_column} IS NOT NULL AND ({time_column} IS NULL OR "
        f"excluded.{time_column} >= {time_column}) THEN excluded.{column} ELSE {column} END"
    )


_MORE_FLOW = (
    "coalesce(excluded.taker_buy + excluded.taker_sell, -1.0) > "
    "coalesce(taker_buy + taker_sell, -1.0)"
)


def _flow(column: str) -> str:
    """A flow column from the writer that saw more taker volume (the more complete minute)."""
    return f"CASE WHEN {_MORE_FLOW} THEN excluded.{column} ELSE {column} END"


def _extreme(fn: str, column: str) -> str:
    return f"coalesce({fn}({column}, excluded.{column}), {column}, excluded.{column})"


# In an upsert's SET, a bare column is the stored value and excluded.column the incoming one.
_UPSERT_MINUTE = f"""
INSERT INTO minutes ({", ".join(_MINUTE_COLUMNS)})
VALUES ({", ".join("?" * len(_MINUTE_COLUMNS))})
ON CONFLICT (exchange, symbol, minute_ms) DO UPDATE SET
    open = CASE WHEN excluded.open_ms IS NOT NULL AND (open_ms IS NULL OR
        excluded.open_ms < open_ms) THEN excluded.open ELSE open END,
    open_ms = coalesce(min(open_ms, excluded.open_ms), open_ms, excluded.open_ms),
    high = {_extreme("max", "high")},
    low = {_extreme("min", "low")},
    close = {_newer("close", "close_ms")},
    funding = CASE WHEN excluded.close_ms IS NOT NULL AND (close_ms IS NULL OR
        excluded.close_ms >= close_ms) THEN coalesce(excluded.funding, funding)
        ELSE coalesce(funding, excluded.funding) END,
    close_ms = coalesce(max(close_ms, excluded.close_ms), close_ms, excluded.close_ms),
    vwap = {_flow("vwap")},
    taker_buy = {_flow("taker_buy")},
    taker_sell = {_flow("taker_sell")},
    trade_close = {_flow("trade_close")},
    flow_kline = {_flow("flow_kline")},
    trade_high = {_extreme("max", "trade_high")},
    trade_low = {_extreme("min", "trade_low")},
    open_interest = {_newer("open_interest", "oi_ms")},
    oi_ms = coalesce(max(oi_ms, excluded.oi_ms), oi_ms, excluded.oi_ms)
"""
_INSERT_PRINT = (
    f"INSERT OR IGNORE INTO prints ({', '.join(_PRINT_COLUMNS)}) "
    f"VALUES ({', '.join('?' * len(_PRINT_COLUMNS))})"
)


def _minute_values(row: MinuteRow) -> tuple[Any, ...]:
    return tuple(getattr(row, name) for name in _MINUTE_COLUMNS)


_KLINE = _MINUTE_COLUMNS.index("flow_kline")


def _minute_row(values: Sequence[Any]) -> MinuteRow:
    if values[_KLINE] is not None:  # stored as 0/1
        values = list(values)
        values[_KLINE] = bool(values[_KLINE])
    return MinuteRow(*values)


def _print_values(ev: Liquidation) -> tuple[Any, ...]:
    return (ev.symbol, ev.exchange, ev.time_ms, ev.side, ev.quantity, ev.price, ev.notional_usd)


def _print(values: Sequence[Any]) -> Liquidation:
    symbol, exchange, time_ms, side, quantity, price, notional = values
    side_: Side = "long" if side == "long" else "short"
    return Liquidation(exchange, symbol, time_ms, side_, price, quantity, notional)


def one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:300]


class _Problem(Exception):
    """Why a store file cannot be used: kind is "damaged", "newer", "locked" or "unavailable"."""

    def __init__(self, kind: str, detail: str) -> None:
        super().__init__(detail)
        self.kind, self.detail = kind, detail


def _connect(path: Path, timeout_s: float) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), usable from any thread."""
    conn = sqlite3.connect(path, timeout=timeout_s, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {max(int(timeout_s * 1000), 0)}")
    return conn


def _prepare(path: Path, lock_timeout_s: float) -> None:
    """Check the file and bring its schema up to date; raises _Problem."""
    try:
        conn = _connect(path, lock_timeout_s)
    except sqlite3.Error as exc:
        raise _Problem("unavailable", one_line(exc)) from None
    try:
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        check = conn.execute("PRAGMA quick_check(1)").fetchone()
        if not check or check[0] != "ok":
            raise _Problem("damaged", f"fails its integrity check ({check and check[0]})")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise _Problem("newer", f"has schema version {version}, newer than {SCHEMA_VERSION}")
        if version < SCHEMA_VERSION:
            conn.execute("BEGIN IMMEDIATE")
            try:
                version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process?
                for steps in MIGRATIONS[version:]:
                    for statement in steps:
                        conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
    except sqlite3.OperationalError as exc:
        text = str(exc)
        if "locked" in text or "busy" in text:
            raise _Problem("locked", text) from None
        if "malformed" in text or "not a database" in text:
            raise _Problem("damaged", text) from None
        raise _Problem("unavailable", one_line(exc)) from None
    except sqlite3.DatabaseError as exc:  # "file is not a database", "malformed", ...
        raise _Problem("damaged", one_line(exc)) from None
    finally:
        conn.close()


@contextlib.contextmanager
def _open_lock(path: Path, timeout_s: float) -> Iterator[bool]:
    """An exclusive advisory lock (`<name>.lock`) held while a store file is checked and maybe
    moved aside: two processes opening a damaged store at once must not both move a file aside
    (the second would move the first one's fresh store). The kernel drops it with its process.
    Yields False when it cannot be had within `timeout_s`."""
    try:
        import fcntl
    except ImportError:  # no advisory locks here: open unguarded
        yield True
        return
    try:
        fd = os.open(path.with_name(f"{path.name}.lock"), os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield True  # a read-only folder fails later, with its own message
        return
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError:
                if time.monotonic() >= deadline:
                    yield False
                    return
                time.sleep(0.02)
        try:
            yield True
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


_SIDECARS = ("-wal", "-shm", "-journal")


def move_aside(path: Path, now: datetime | None = None) -> Path:
    """Rename `path` (and its -wal, -shm, -journal) to `<name>.bad-<UTC time>`; the new name."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.bad-{stamp}")
    n = 1
    while any(Path(f"{target}{s}").exists() for s in ("", *_SIDECARS)):
        n += 1
        target = path.with_name(f"{path.name}.bad-{stamp}-{n}")
    for suffix in _SIDECARS:
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.rename(f"{target}{suffix}")
    if path.exists():
        path.rename(target)
    return target


@dataclass(slots=True)
class _Counters:
    stats: StoreStats
    enqueued: int = 0  # events accepted into the queue
    settled: int = 0  # of those: written, dropped or skipped


class SQLiteStore:
    """The `liqtui.store.Store` on a SQLite file. Make one with `SQLiteStore.open(path)`."""

    def __init__(
        self,
        path: Path,
        *,
        available: bool = True,
        warning: str | None = None,
        retention_ms: int | None = None,
        commit_interval_s: float = COMMIT_INTERVAL_S,
        prune_interval_s: float = PRUNE_INTERVAL_S,
        max_size_bytes: int | None = None,
        max_queue: int = MAX_QUEUE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._available = available
        self._warning = warning
        self.retention_ms = retention_ms
        self.commit_interval_s = commit_interval_s
        self.prune_interval_s = prune_interval_s
        self.max_size_bytes = max_size_bytes
        self.max_queue = max_queue
        self._clock = clock
        self._lock = threading.Condition()
        self._queue: deque[list[MarketEvent]] = deque()
        self._c = _Counters(StoreStats())
        self._urgent = False
        self._stopping = False
        self._thread: threading.Thread | None = None
        if available:
            self._thread = threading.Thread(target=self._run, name="liqtui-store", daemon=True)
            self._thread.start()

    # -- opening ----------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        path: Path,
        *,
        retention_ms: int | None = None,
        lock_timeout_s: float = 10.0,
        **kw: Any,
    ) -> SQLiteStore:
        """Open (or create) the store at `path`; never raises for a bad file (module doc)."""
        warning: str | None = None

        def unavailable(why: str) -> SQLiteStore:
            return cls(path, available=False, warning=why, retention_ms=retention_ms, **kw)

        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            why = exc.strerror or one_line(exc)
            return unavailable(
                f"store {path.parent}: cannot create the folder ({why}); running without it"
            )
        with _open_lock(path, lock_timeout_s) as locked:
            if not locked:
                return unavailable(
                    f"store {path} is being opened by another process (waited "
                    f"{lock_timeout_s:g} s): running without the store this time"
                )
            try:
                _prepare(path, lock_timeout_s)
            except _Problem as problem:
                if problem.kind == "locked":
                    return unavailable(
                        f"store {path} is locked by another process (waited {lock_timeout_s:g} s): "
                        "running without the store this time; nothing was moved"
                    )
                if problem.kind not in ("damaged", "newer"):
                    return unavailable(f"store {path}: {problem.detail}; running without it")
                try:
                    moved = move_aside(path)
                    _prepare(path, lock_timeout_s)
                except (OSError, _Problem) as exc:
                    return unavailable(
                        f"store {path} {problem.detail}; cannot start a fresh one: {exc}"
                    )
                what = (
                    f"is damaged ({problem.detail})"
                    if problem.kind == "damaged"
                    else f"{problem.detail} (written by a newer liqtui)"
                )
                warning = f"store {path} {what}; moved aside as {moved.name}, started a fresh one"
        return cls(path, warning=warning, retention_ms=retention_ms, **kw)

    @property
    def warning(self) -> str | None:
        return self._warning

    @property
    def available(self) -> bool:
        return self._available

    @property
    def stats(self) -> StoreStats:
        with self._lock:
            stats = replace(self._c.stats)
            stats.queued = self._c.enqueued - self._c.settled
            return stats

    # -- writing ----------------------------------------------------------------------------
    def write(self, events: Iterable[MarketEvent]) -> None:
        batch = list(events)
        if not batch:
            return
        with self._lock:
            c = self._c
            if not self._available or self._stopping:
                c.stats.dropped += len(batch)
                return
            if c.enqueued - c.settled + len(batch) > self.max_queue:
                c.stats.dropped += len(batch)
                c.stats.last_error = f"write queue full ({self.max_queue} events): dropped"
                return
            self._queue.append(batch)
            c.enqueued += len(batch)
            self._lock.notify_all()

    def flush(self, timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._lock:
            target = self._c.enqueued
            self._urgent = True
            self._lock.notify_all()
            while self._c.settled < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._thread is None or not self._thread.is_alive():
                    return self._c.settled >= target
                self._lock.wait(left)
            return True

    def close(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._stopping = True
            self._urgent = True
            self._lock.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)

    def __enter__(self) -> SQLiteStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _writer_connection(self) -> sqlite3.Connection:
        conn = _connect(self.path, BUSY_TIMEOUT_MS / 1000)
        conn.execute("PRAGMA synchronous = NORMAL")  # WAL: a kill -9 loses no commit
        if self.max_size_bytes is not None:
            page = conn.execute("PRAGMA page_size").fetchone()[0]
            conn.execute(f"PRAGMA max_page_count = {max(self.max_size_bytes // page, 1)}")
        return conn

    def _error(self, exc: BaseException, what: str) -> None:
        with self._lock:
            self._c.stats.errors += 1
            self._c.stats.last_error = f"{what}: {one_line(exc)}"

    def _run(self) -> None:
        try:
            self._loop()
        except Exception as exc:  # a bug: stop storing, but count it and lose nothing silently
            with self._lock:
                s, c = self._c.stats, self._c
                s.errors += 1
                s.last_error = f"writer stopped: {type(exc).__name__}: {one_line(exc)}"
                s.dropped += c.enqueued - c.settled
                c.settled = c.enqueued
                self._queue.clear()
                self._available = False
                self._lock.notify_all()

    def _loop(self) -> None:
        conn: sqlite3.Connection | None = None
        agg = MinuteAggregator()
        pending = 0  # events folded into agg since the last commit
        next_commit = time.monotonic() + self.commit_interval_s
        next_prune = time.monotonic() if self.retention_ms else math.inf
        while True:
            with self._lock:
                while not self._queue and not self._urgent and not self._stopping:
                    left = next_commit - time.monotonic()
                    if left <= 0:
                        break
                    self._lock.wait(left)
                batches = list(self._queue)
                self._queue.clear()
                urgent, self._urgent = self._urgent, False
                stopping = self._stopping
            skipped = 0
            for batch in batches:
                for event in batch:
                    if agg.add(event):
                        pending += 1
                    else:
                        skipped += 1
            if skipped:
                with self._lock:
                    self._c.stats.skipped += skipped
                    self._c.settled += skipped
                    self._lock.notify_all()
            now = time.monotonic()
            if now >= next_commit or urgent or stopping:
                if conn is None:
                    try:
                        conn = self._writer_connection()
                    except sqlite3.Error as exc:
                        self._error(exc, "open")
                if pending or batches:
                    self._commit(conn, agg, pending)
                    pending = 0
                next_commit = time.monotonic() + self.commit_interval_s
            if conn is not None and time.monotonic() >= next_prune and self.retention_ms:
                try:
                    self._prune(conn, int(self._clock() * 1000) - self.retention_ms)
                except sqlite3.Error as exc:
                    self._error(exc, "prune")
                next_prune = time.monotonic() + self.prune_interval_s
            if stopping:
                with self._lock:
                    if self._queue:
                        continue
                break
        if conn is not None:
            with contextlib.suppress(sqlite3.Error):
                conn.close()

    def _commit(self, conn: sqlite3.Connection | None, agg: MinuteAggregator, n: int) -> None:
        rows, prints = agg.drain()
        duplicates = 0
        try:
            if conn is None:
                raise sqlite3.OperationalError("the store could not be opened")
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(_UPSERT_MINUTE, [_minute_values(r) for r in rows])
                cur = conn.executemany(_INSERT_PRINT, [_print_values(p) for p in prints])
                duplicates = len(prints) - max(cur.rowcount, 0)
                conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
        except (sqlite3.Error, OSError) as exc:
            with self._lock:
                s = self._c.stats
                s.errors += 1
                s.dropped += n
                s.last_error = f"write: {one_line(exc)}"
                self._c.settled += n
                self._lock.notify_all()
            return
        with self._lock:
            s = self._c.stats
            s.written += n
            s.duplicates += duplicates
            s.commits += 1
            self._c.settled += n
            self._lock.notify_all()

    # -- reading ----------------------------------------------------------------------------
    @contextlib.contextmanager
    def _reader(self) -> Iterator[sqlite3.Connection]:
        conn = _connect(self.path, BUSY_TIMEOUT_MS / 1000)
        try:
            yield conn
        finally:
            conn.close()

    @staticmethod
    def _pairs(conn: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
        """The (exchange, symbol) pairs of a table, one index seek each (a loose index scan)."""
        pairs: list[tuple[str, str]] = []
        order = "ORDER BY exchange, symbol LIMIT 1"
        row = conn.execute(f"SELECT exchange, symbol FROM {table} {order}").fetchone()
        while row is not None:
            pairs.append((row[0], row[1]))
            row = conn.execute(
                f"SELECT exchange, symbol FROM {table} WHERE (exchange, symbol) > (?, ?) {order}",
                row,
            ).fetchone()
        return pairs

    def _selected(
        self,
        conn: sqlite3.Connection,
        table: str,
        symbols: Sequence[str] | None,
        exchanges: Sequence[str] | None,
    ) -> list[tuple[str, str]]:
        return [
            (ex, sym)
            for ex, sym in self._pairs(conn, table)
            if (symbols is None or sym in symbols) and (exchanges is None or ex in exchanges)
        ]

    def minutes(
        self,
        start_ms: int,
        end_ms: int,
        symbols: Sequence[str] | None = None,
        exchanges: Sequence[str] | None = None,
    ) -> list[MinuteRow]:
        if not self._available:
            return []
        sql = (
            f"SELECT {', '.join(_MINUTE_COLUMNS)} FROM minutes WHERE exchange = ? AND "
            "symbol = ? AND minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms"
        )
        with self._reader() as conn:
            return [
                _minute_row(values)
                for ex, sym in self._selected(conn, "minutes", symbols, exchanges)
                for values in conn.execute(sql, (ex, sym, start_ms, end_ms))
            ]

    def prints(
        self,
        start_ms: int,
        end_ms: int,
        symbols: Sequence[str] | None = None,
        exchanges: Sequence[str] | None = None,
    ) -> list[Liquidation]:
        if not self._available:
            return []
        sql = (
            f"SELECT {', '.join(_PRINT_COLUMNS)} FROM prints WHERE exchange = ? AND "
            "symbol = ? AND time_ms >= ? AND time_ms < ? ORDER BY time_ms"
        )
        with self._reader() as conn:
            return [
                _print(values)
                for ex, sym in self._selected(conn, "prints", symbols, exchanges)
                for values in conn.execute(sql, (ex, sym, start_ms, end_ms))
            ]

    def load(
        self,
        start_ms: int,
        end_ms: int,
        symbols: Sequence[str] | None = None,
        exchanges: Sequence[str] | None = None,
    ) -> list[MarketEvent]:
        """Minute rows and prints of [start_ms, end_ms) as events in time order (a minute row
        starting at or after start_ms; liqtui.store.minutes says how a row maps to events)."""
        return events_from_rows(
            self.minutes(start_ms, end_ms, symbols, exchanges),
            self.prints(start_ms, end_ms, symbols, exchanges),
        )

    def size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal", "-shm"):
            with contextlib.suppress(OSError):
                total += Path(f"{self.path}{suffix}").stat().st_size
        return total

    def info(self) -> StoreInfo:
        if not self._available:
            return StoreInfo(str(self.path), self.size_bytes(), 0, ())
        markets: dict[tuple[str, str], list[Any]] = {}
        with self._reader() as conn:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            for table, column, slot in (("minutes", "minute_ms", 0), ("prints", "time_ms", 1)):
                for ex, sym in self._pairs(conn, table):
                    lo, hi, n = conn.execute(
                        f"SELECT min({column}), max({column}), count(*) FROM {table} "
                        "WHERE exchange = ? AND symbol = ?",
                        (ex, sym),
                    ).fetchone()
                    entry = markets.setdefault((ex, sym), [None, None, 0, 0])
                    entry[0] = lo if entry[0] is None else min(entry[0], lo)
                    entry[1] = hi if entry[1] is None else max(entry[1], hi)
                    entry[2 + slot] = n
        return StoreInfo(
            path=str(self.path),
            size_bytes=self.size_bytes(),
            schema_version=version,
            markets=tuple(
                MarketInfo(ex, sym, lo, hi, n_min, n_pr)
                for (ex, sym), (lo, hi, n_min, n_pr) in sorted(markets.items())
            ),
        )

    # -- retention and export ---------------------------------------------------------------
    def _prune(self, conn: sqlite3.Connection, older_than_ms: int) -> PruneResult:
        deleted = [0, 0]
        for i, (table, column) in enumerate((("minutes", "minute_ms"), ("prints", "time_ms"))):
            for ex, sym in self._pairs(conn, table):
                conn.execute("BEGIN IMMEDIATE")
                try:
                    cur = conn.execute(
                        f"DELETE FROM {table} WHERE exchange = ? AND symbol = ? AND {column} < ?",
                        (ex, sym, older_than_ms),
                    )
                    conn.execute("COMMIT")
                except BaseException:
                    with contextlib.suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
                deleted[i] += max(cur.rowcount, 0)
        with self._lock:
            self._c.stats.pruned_minutes += deleted[0]
            self._c.stats.pruned_prints += deleted[1]
        return PruneResult(deleted[0], deleted[1])

    def prune(self, older_than_ms: int) -> PruneResult:
        """Delete rows older than `older_than_ms`; raises sqlite3.Error when it cannot (the
        background prune counts its errors instead)."""
        if not self._available:
            return PruneResult(0, 0)
        with self._reader() as conn:
            return self._prune(conn, older_than_ms)

    def export(self, format: ExportFormat, out: IO[str]) -> int:
        if format not in ("jsonl", "csv"):
            raise ValueError(f"unknown export format {format!r} (jsonl or csv)")
        if not self._available:
            return 0
        columns = ("kind", *_MINUTE_COLUMNS, "time_ms", "side", "quantity", "price", "notional_usd")
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        if format == "csv":
            writer.writeheader()
        n = 0
        with self._reader() as conn:
            for table in ("minutes", "prints"):
                for ex, sym in self._pairs(conn, table):
                    records: Iterator[dict[str, Any]]
                    if table == "minutes":
                        rows = conn.execute(
                            f"SELECT {', '.join(_MINUTE_COLUMNS)} FROM minutes WHERE "
                            "exchange = ? AND symbol = ? ORDER BY minute_ms",
                            (ex, sym),
                        )
                        records = ({"kind": "minute", **asdict(_minute_row(v))} for v in rows)
                    else:
                        rows = conn.execute(
                            f"SELECT {', '.join(_PRINT_COLUMNS)} FROM prints WHERE "
                            "exchange = ? AND symbol = ? ORDER BY time_ms",
                            (ex, sym),
                        )
                        records = ({"kind": "print", **asdict(_print(v))} for v in rows)
                    for record in records:
                        if format == "jsonl":
                            out.write(json.dumps(record, separators=(",", ":")) + "\n")
                        else:
                            writer.writerow({k: "" if v is None else v for k, v in record.items()})
                        n += 1
        return n
