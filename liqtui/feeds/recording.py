"""The recording format: JSON Lines, gzip-compressed when the file name ends in .gz.

One line per received message:
    {"t": <receive time, ms since the epoch>, "ex": "<exchange id>", "msg": <raw message>}
`msg` is the message exactly as the exchange sent it: the JSON object (or array) of a JSON
frame, or a string for a non-JSON frame (OKX's "pong"). A REST poll result adds
"rest": "<endpoint name>". docs/recording.md is the user's description of all this.

Writing (`Recorder`): lines collect in memory and go to the file in one write() at least every
`FLUSH_INTERVAL_S` (a gzip sync flush first), so a crash of liqtui loses at most the last
second. A .gz file is a series of gzip members: each run of the recorder appends new ones, and a
member is finished (final block, CRC, length) after `MEMBER_INTERVAL_S` or `MEMBER_MAX_BYTES`,
so damage inside one member costs at most that member's rest. A write error never raises: the
recorder stops, keeps the reason in `error` and counts the lines it could not write in `lost`.

Reading (`read_recording`): every complete line of every member. A member that ends without its
trailer (the recorder was killed) is read up to its last flush, and reading goes on with the
next member; a damaged member is read up to the damage, then the reader resyncs at the next
gzip member header (1f 8b 08). Lines that cannot be trusted are not yielded: none of a member
whose CRC or length check fails, and none decoded past the last sync flush of a member that did
not end well. What could not be read is counted in `ReadStats`, never raised.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import stat
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import IO, TYPE_CHECKING, Any

import msgspec

from liqtui.exchanges.spec import RawJSON, too_deep


def _inflater() -> tuple[ModuleType, tuple[type[Exception], ...]]:
    """zlib-ng, which inflates the same data 2-3× faster (a dependency), and the errors it
    raises; the standard zlib if it is missing."""
    try:
        ng = importlib.import_module("zlib_ng.zlib_ng")
    except ImportError:  # pragma: no cover
        return zlib, (zlib.error,)
    return ng, (zlib.error, ng.error)


_inflate, _INFLATE_ERRORS = _inflater()

if TYPE_CHECKING:
    from liqtui.source import EventSink

RECORDING_FEED = "recording"  # health record of the recording being written or replayed

FLUSH_INTERVAL_S = 1.0  # lines reach the file at least this often
MEMBER_INTERVAL_S = 60.0  # a gzip member is finished after this long …
MEMBER_MAX_BYTES = 8 << 20  # … or this many bytes of text, whichever comes first
GZIP_MAGIC = b"\x1f\x8b\x08"  # ID1 ID2 CM=deflate: the start of every gzip member
GZIP_WBITS = 16 + zlib.MAX_WBITS  # zlib's gzip format: header and trailer included
READ_CHUNK = 1 << 16
HOLD_MAX_BYTES = 2 * MEMBER_MAX_BYTES  # a member's lines wait for its check up to this size
FAILED_CHECKS = ("incorrect data check", "incorrect length check")  # zlib, at a member's end
SYNC_FLUSH_END = b"\x00\x00\xff\xff"  # the empty stored block a zlib sync flush ends with
SALVAGE_PIECE = 256  # after an error, a chunk is decoded again in pieces this small


@dataclass(frozen=True, slots=True)
class RecordLine:
    t: int
    ex: str
    msg: object
    rest: str | None = None


@dataclass(slots=True)
class ReadStats:
    lines: int = 0  # non-blank lines read, good or bad
    good: int = 0  # lines that are recording lines (their message may still be bad)
    bad_lines: int = 0  # lines that are not recording lines, and lines cut off unfinished
    damaged: int = 0  # stretches of unreadable gzip data skipped (their lines are lost)
    unfinished_members: int = 0  # gzip members without their end: the recorder was killed
    truncated_tail: bool = False  # the file ends in a line cut off unfinished
    last_error: str | None = None

    @property
    def skipped(self) -> int:
        """What replay counts as skipped: bad lines plus one per damaged stretch."""
        return self.bad_lines + self.damaged

    def remarks(self) -> str:
        """What a reader should know about the file's state, in a few words ("" if nothing)."""
        parts = []
        if self.unfinished_members:
            n = self.unfinished_members
            s = "s" if n != 1 else ""
            parts.append(f"{n} gzip member{s} without an end (writer killed, or disk full)")
        if self.damaged:
            n = self.damaged
            parts.append(f"{n} damaged stretch{'es' if n != 1 else ''} skipped")
        if self.truncated_tail:
            parts.append("ends in a truncated line")
        return "; ".join(parts)


def _validate(obj: object) -> RecordLine:
    if not isinstance(obj, dict):
        raise ValueError("line is not a JSON object")
    t, ex, rest = obj.get("t"), obj.get("ex"), obj.get("rest")
    if isinstance(t, bool) or not isinstance(t, int) or not 0 < t < 4_102_444_800_000:
        raise ValueError(f"'t' must be milliseconds since the epoch, got {t!r}")
    if not isinstance(ex, str) or not ex:
        raise ValueError(f"'ex' must be an exchange id, got {ex!r}")
    if "msg" not in obj:
        raise ValueError("missing 'msg'")
    if rest is not None and not isinstance(rest, str):
        raise ValueError(f"'rest' must be an endpoint name, got {rest!r}")
    return RecordLine(t, ex, obj["msg"], rest)


class _Line(msgspec.Struct):
    """A recording line with its message left as text (`_validate` checks the rest)."""

    t: Any
    ex: Any
    msg: msgspec.Raw
    rest: Any = None


_LINE_DECODER = msgspec.json.Decoder(_Line)


def _fast_line(text: bytes) -> RecordLine | None:
    """The line with its message as `RawJSON`, when msgspec can vouch that json.loads would
    read it the same (pure ASCII, not nested deeply, a valid line); None: take json.loads'
    path, which also says what is wrong with a bad line."""
    if not text.isascii() or too_deep(text):
        return None
    try:
        line = _LINE_DECODER.decode(text)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None
    t, ex, rest = line.t, line.ex, line.rest
    if (
        type(t) is not int
        or not 0 < t < 4_102_444_800_000
        or type(ex) is not str
        or not ex
        or (rest is not None and type(rest) is not str)
    ):
        return None
    return RecordLine(t, ex, RawJSON(line.msg), rest)


def _tail_endpoint(text: bytes) -> str | None:
    """The endpoint of a REST line as the recorder ends it, `,"rest":"<endpoint>"}`, read
    without decoding the line; None when it does not end so. In a line without a backslash
    every quote is JSON's own, so those are the last key and value of the line's object."""
    if not text.endswith(b'"}'):
        return None
    at = text.rfind(b',"rest":"')
    endpoint = text[at + 9 : -2]
    if at < 0 or b'"' in endpoint or not endpoint.isascii() or b"\\" in text:
        return None
    return endpoint.decode()


def read_recording(
    path: str | Path,
    stats: ReadStats | None = None,
    *,
    raw: bool = False,
    rest: Callable[[str], bool] | None = None,
) -> Iterator[RecordLine]:
    """Yield the valid lines of a recording; count the rest in `stats`. Never raises on content.
    With `raw`, a line's message may come as `RawJSON` (not decoded yet: parsers decode what
    they use; `liqtui.exchanges.spec.decoded` gives the value). With `rest`, only REST lines
    whose endpoint `rest` accepts are wanted: lines without the text "rest", and lines that end
    in an endpoint it refuses, are passed over undecoded (and `stats` counts only the lines
    read); the caller still checks the lines it gets.

    Raises OSError when the file cannot be opened."""
    stats = stats if stats is not None else ReadStats()
    path = Path(path)
    with path.open("rb") as fh:
        for raw_line, kind in _raw_lines(fh, path, stats):
            if rest is not None:
                # Without an escape, a line holds the key "rest" only as that very text.
                if b'"rest"' not in raw_line and b"\\" not in raw_line:
                    continue
                endpoint = _tail_endpoint(raw_line.strip())
                if endpoint is not None and not rest(endpoint):
                    continue
            text = raw_line.strip()
            if not text:
                continue
            stats.lines += 1
            if raw and (fast := _fast_line(text)) is not None:
                stats.good += 1
                yield fast
                continue
            try:
                record = _validate(json.loads(text))
            except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeError too
                stats.bad_lines += 1
                if kind == TAIL:
                    stats.truncated_tail = True
                why = {CUT: "cut off where its gzip member ends: ", TAIL: "cut off: "}.get(kind, "")
                stats.last_error = f"line {stats.lines}: {why}{exc}"[:200]
                continue
            stats.good += 1
            yield record


LINE, CUT, TAIL = "line", "cut", "tail"  # a complete line; one cut off mid-file; at the end


def _raw_lines(fh: IO[bytes], path: Path, stats: ReadStats) -> Iterator[tuple[bytes, str]]:
    """The lines of the file, decompressed if it is gzip (by its first bytes, or by its name
    unless it starts like text, or by a member header early on: JSON text never holds a raw
    1f byte, so garbage in front of gzip data does not make it text), each with its kind."""
    head = fh.read(READ_CHUNK)
    fh.seek(0)
    text_like = head.lstrip()[:1] in (b"{", b"")
    gzipped = (
        head.startswith(GZIP_MAGIC[:2])
        or (path.suffix == ".gz" and not text_like)
        or _next_header(head, 0) >= 0
    )
    lines = _gzip_lines(fh, stats) if gzipped else _plain_lines(fh)
    try:
        yield from lines
    except OSError as exc:  # the disk failed under us: what was read stands
        stats.last_error = f"read error: {exc.strerror or exc}"[:200]


def _plain_lines(fh: IO[bytes]) -> Iterator[tuple[bytes, str]]:
    for raw in fh:
        yield raw, LINE if raw.endswith(b"\n") else TAIL


class _Lines:
    """Splits decompressed bytes into lines, keeping the unfinished one."""

    def __init__(self) -> None:
        self.carry = b""

    def feed(self, data: bytes) -> list[bytes]:
        if not data:
            return []
        parts = (self.carry + data).split(b"\n")
        self.carry = parts.pop()
        return parts

    def take(self) -> bytes:
        """The unfinished line, forgotten."""
        carry, self.carry = self.carry, b""
        return carry


def _gzip_lines(fh: IO[bytes], stats: ReadStats) -> Iterator[tuple[bytes, str]]:
    """Every line of every gzip member, resyncing at the next member header after an
    unfinished or damaged member and skipping bytes between members that are not gzip."""
    lines = _Lines()
    pos = 0  # where the next member (or garbage) starts
    in_damage = False  # a damaged stretch is counted once, however many false starts follow
    while True:
        start = _find_header(fh, pos)
        end = start if start is not None else _size(fh)
        if not in_damage and not _all_zero(fh, pos, end):  # zero padding is harmless
            stats.damaged += 1
            in_damage = True
            stats.last_error = f"offset {pos}: {end - pos} bytes that are not gzip skipped"
        if start is None:
            break
        member = _Member(fh, start)
        # A member's lines are held until its end: if its check (CRC, length) fails, the
        # damage decoded without an error and any of them may be wrong (a changed digit, an
        # earlier line again), so none is replayed. A member larger than liqtui writes (a
        # foreign file) is passed on unchecked past HOLD_MAX_BYTES.
        held: list[bytes] = []
        held_bytes = 0
        for chunk in member.decode():
            for raw in lines.feed(chunk):
                in_damage = False  # a line again: the damage, if any, is behind us
                if held_bytes <= HOLD_MAX_BYTES:
                    held.append(raw)
                    held_bytes += len(raw)
                    continue
                for line in held:
                    yield line, LINE
                held.clear()
                yield raw, LINE
        if member.outcome == "damaged" and member.error in FAILED_CHECKS:
            keep = 0
        elif member.outcome != "complete":
            keep = _lines_to_last_flush(fh, member, _size(fh))
        else:
            keep = len(held)
        if keep < len(held) or (keep == 0 and member.outcome != "complete" and lines.carry):
            # What was decoded past the member's last sync flush (a flush cut short, or damage
            # that decoded without an error) cannot be trusted: counted, not replayed.
            dropped = len(held) - keep + (1 if lines.take() else 0)
            stats.lines += dropped
            stats.bad_lines += dropped
            del held[keep:]
        for line in held:
            yield line, LINE
        pos = member.end
        if member.outcome == "complete":  # a line may go on in the next member (`cat a b`)
            in_damage = False
            continue
        if member.outcome == "eof":  # the file ends inside a member: the recorder was killed
            stats.unfinished_members += 1
            break
        # Unfinished or damaged: its cut-off line cannot go on in the next member.
        yield lines.take(), CUT
        if member.outcome == "unfinished":
            stats.unfinished_members += 1
        elif not in_damage:
            stats.damaged += 1
            in_damage = True
            stats.last_error = f"offset {member.error_at}: damaged gzip data ({member.error})"
    yield lines.take(), TAIL


class _Member:
    """Decodes one gzip member from `start`. Input is fed in pieces that never run across a
    later member header, so a member cut off by a crash is told apart from damage: feeding the
    next header to the decoder fails at once (1f is an invalid deflate block type)."""

    def __init__(self, fh: IO[bytes], start: int) -> None:
        self.fh = fh
        self.start = start
        self.outcome = ""  # complete | unfinished | damaged | eof
        self.end = start  # where reading goes on
        self.error = ""
        self.error_at = start
        self.headers: list[int] = []

    def decode(self) -> Iterator[bytes]:
        d = _inflate.decompressobj(GZIP_WBITS)
        offset = self.start
        headers = self.headers  # later member headers fed as data without an error
        while True:
            data = _read_at(self.fh, offset, READ_CHUNK)
            if not data:
                if headers:  # cut off in mid-write: the next member went in as data
                    self.outcome, self.end = "damaged", headers[0]
                    self.error, self.error_at = "a member cut off in mid-write", headers[0]
                else:
                    self.outcome, self.end = "eof", offset
                return
            nxt = _next_header(data, 1 if offset == self.start else 0)
            at_header = nxt == 0 and offset != self.start
            if nxt == 0:  # a piece starting with a header holds no other
                nxt = _next_header(data, 1)
            piece = data[:nxt] if nxt > 0 else _hold_back_partial_magic(data)
            backup = d.copy()
            try:
                out = d.decompress(piece)
            except _INFLATE_ERRORS as exc:
                yield from self._salvage(backup, piece, offset)
                self._failed(exc, offset, headers)
                return
            if at_header:
                headers.append(offset)
            yield out
            if d.eof:
                self.outcome = "complete"
                self.end = offset + len(piece) - len(d.unused_data)
                return
            offset += len(piece)

    def _salvage(self, d: Any, piece: bytes, offset: int) -> Iterator[bytes]:
        """Decode a failed piece again in small pieces, to keep what came before the error."""
        for i in range(0, len(piece), SALVAGE_PIECE):
            try:
                yield d.decompress(piece[i : i + SALVAGE_PIECE])
            except _INFLATE_ERRORS:
                self.error_at = offset + i
                return

    def _failed(self, exc: Exception, offset: int, headers: list[int]) -> None:
        self.error = str(exc).removeprefix("Error -3 while decompressing data: ")
        if not headers and offset != self.start and _is_header(_read_at(self.fh, offset, 10)):
            # The next member's header is where the decoder stopped: this one was cut off at a
            # flush by a crash, and nothing between them is lost.
            self.outcome, self.end = "unfinished", offset
            return
        self.outcome = "damaged"
        # Resync at the first later header: one the decoder swallowed as data (a member cut off
        # in mid-write), else the next one after the damage.
        self.end = headers[0] if headers else max(offset, self.start + 1)
        if self.error_at == self.start:
            self.error_at = offset


def _lines_to_last_flush(fh: IO[bytes], member: _Member, size: int) -> int:
    """How many lines of a member that did not end well lie before its last sync flush (the
    recorder's flushes end in 00 00 ff ff); the member's lines that could be decoded if it
    has no sync flush at all (a foreign gzip file cut short)."""
    if member.outcome == "unfinished":
        stop = member.end
    elif member.outcome == "eof":
        stop = size
    else:
        stop = min([member.error_at, *member.headers])
    data = _read_at(fh, member.start, stop - member.start)
    flushed = data.rfind(SYNC_FLUSH_END)
    if flushed < 0:
        return sys.maxsize
    try:
        text = zlib.decompressobj(GZIP_WBITS).decompress(data[: flushed + len(SYNC_FLUSH_END)])
    except zlib.error:  # the damage lies before the last flush: trust what decodes before it
        return sys.maxsize
    return text.count(b"\n")


def _hold_back_partial_magic(data: bytes) -> bytes:
    """`data` without a trailing 1f or 1f 8b (a header that may go on in the next chunk)."""
    for keep in (2, 1):
        if len(data) > keep and GZIP_MAGIC.startswith(data[-keep:]):
            return data[:-keep]
    return data


def _read_at(fh: IO[bytes], offset: int, size: int) -> bytes:
    if size <= 0:
        return b""
    fh.seek(offset)
    return fh.read(size)


def _all_zero(fh: IO[bytes], start: int, end: int) -> bool:
    while start < end:
        data = _read_at(fh, start, min(READ_CHUNK, end - start))
        if not data:
            break
        if data.strip(b"\0"):
            return False
        start += len(data)
    return True


def _size(fh: IO[bytes]) -> int:
    return fh.seek(0, os.SEEK_END)


GZIP_HEADER_SIZE = 10
GZIP_OS_CODES = frozenset((*range(14), 255))


def _is_header(head: bytes) -> bool:
    """Whether the bytes look like the start of a gzip member: ID1 ID2 CM, FLG without its
    reserved bits, XFL 0, 2 or 4, a known OS (chance data passes: about 1 in 2e11 positions).
    A header cut short by the end of `head` passes on its magic alone."""
    if not head.startswith(GZIP_MAGIC):
        return False
    if len(head) < GZIP_HEADER_SIZE:
        return True
    return not head[3] & 0xE0 and head[8] in (0, 2, 4) and head[9] in GZIP_OS_CODES


def _next_header(data: bytes, start: int) -> int:
    """The index of the first plausible member header in `data` at or after `start`, or -1."""
    i = data.find(GZIP_MAGIC, start)
    while i >= 0 and not _is_header(data[i : i + GZIP_HEADER_SIZE]):
        i = data.find(GZIP_MAGIC, i + 1)
    return i


def _find_header(fh: IO[bytes], offset: int) -> int | None:
    """The file offset of the first plausible member header at or after `offset`, or None."""
    while True:
        data = _read_at(fh, offset, READ_CHUNK)
        found = _next_header(data, 0)
        if found >= 0 and (found + GZIP_HEADER_SIZE <= len(data) or len(data) < READ_CHUNK):
            return offset + found
        if len(data) < READ_CHUNK:
            return None
        offset += len(data) - GZIP_HEADER_SIZE  # a header across the chunks' border


class Recorder:
    """Appends received messages to a recording (see the module docstring for the layout).

    Never raises on a write: a failure (a full disk) sets `error` to "<file>: <cause>", stops
    the recording and counts the lines not written in `lost`; whoever runs the recorder reports
    it (`report_recording`)."""

    def __init__(
        self,
        path: str | Path,
        *,
        flush_interval_s: float = FLUSH_INTERVAL_S,
        member_interval_s: float = MEMBER_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = Path(path)
        self.gzip = self.path.suffix == ".gz"
        self.flush_interval_s = flush_interval_s
        self.member_interval_s = member_interval_s
        self.clock = clock
        self.lines = 0  # lines accepted
        self.lines_on_disk = 0  # lines handed to the operating system: a crash cannot lose them
        self.lost = 0  # lines not written (or cut off): after a failure, or after close()
        self.unrecordable = 0  # messages that cannot be written as JSON
        self.error: str | None = None
        self.closed = False
        self._pending = bytearray()
        self._pending_lines = 0
        self._member: zlib._Compress | None = None
        self._member_started = 0.0
        self._member_bytes = 0
        self._last_flush = clock()
        self._fd: int | None = None
        try:
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            if not self.gzip and self._ends_in_a_cut_line():
                self._pending += b"\n"  # the cut-off line stays one bad line, not two
        except OSError as exc:
            self._fail(exc)

    def _ends_in_a_cut_line(self) -> bool:
        assert self._fd is not None
        info = os.fstat(self._fd)
        if not stat.S_ISREG(info.st_mode) or info.st_size == 0:
            return False
        try:
            with self.path.open("rb") as fh:
                fh.seek(-1, os.SEEK_END)
                return fh.read(1) != b"\n"
        except OSError:  # a file we may append to but not read: nothing to mend
            return False

    def write(self, ex: str, msg: object, *, t: int | None = None, rest: str | None = None) -> None:
        if self.error is not None or self.closed:
            self.lost += 1
            return
        line: dict[str, object] = {"t": t if t is not None else int(time.time() * 1000), "ex": ex}
        line["msg"] = msg
        if rest is not None:
            line["rest"] = rest
        try:
            data = (json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n").encode()
        except (ValueError, TypeError, RecursionError):  # NaN in a REST answer, say
            self.unrecordable += 1
            return
        now = self.clock()
        if self.gzip:
            if self._member is None:
                self._member = zlib.compressobj(6, zlib.DEFLATED, GZIP_WBITS)
                self._member_started, self._member_bytes = now, 0
            self._pending += self._member.compress(data)
            self._member_bytes += len(data)
        else:
            self._pending += data
        self._pending_lines += 1
        self.lines += 1
        if now - self._last_flush >= self.flush_interval_s or self._member_full(now):
            self.flush()

    def write_frame(self, ex: str, frame: str, *, t: int | None = None) -> None:
        """Record a text frame: JSON frames as their object, anything else as a string."""
        try:
            msg: object = json.loads(frame)
        except ValueError:
            msg = frame
        self.write(ex, msg, t=t)

    def _member_full(self, now: float) -> bool:
        return self._member is not None and (
            now - self._member_started >= self.member_interval_s
            or self._member_bytes >= MEMBER_MAX_BYTES
        )

    def flush_if_due(self) -> None:
        """Flush if the flush interval has passed (called every second by the live source, so
        quiet feeds' lines reach the file too, and old members are finished)."""
        now = self.clock()
        if now - self._last_flush >= self.flush_interval_s or self._member_full(now):
            self.flush()

    def flush(self, *, finish: bool = False) -> None:
        """Hand what is pending to the operating system in one write (a gzip sync flush first,
        or the member's end when it is full or `finish`)."""
        if self.error is not None or self._fd is None:
            return
        now = self.clock()
        self._last_flush = now
        finishing = self._member is not None and (finish or self._member_full(now))
        if self._member is not None and (finishing or self._pending_lines):
            self._pending += self._member.flush(zlib.Z_FINISH if finishing else zlib.Z_SYNC_FLUSH)
            if finishing:
                self._member = None
        if not self._pending:
            return
        try:
            # A copy: a view of `_pending` itself would keep it from being cleared on failure.
            view = memoryview(bytes(self._pending))
            while view:
                view = view[os.write(self._fd, view) :]
            if finishing:
                os.fsync(self._fd)  # a finished member survives a power cut too
        except OSError as exc:
            self._fail(exc)
            return
        self.lines_on_disk += self._pending_lines
        self._pending.clear()
        self._pending_lines = 0

    def _fail(self, exc: OSError) -> None:
        self.error = f"{self.path}: {exc.strerror or exc}"
        self.lost += self._pending_lines
        self._pending.clear()
        self._pending_lines = 0
        self._member = None
        self._close_fd()

    def _close_fd(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None

    def close(self) -> None:
        """Write what is pending, finish the gzip member and close the file (again: no-op)."""
        if self.closed:
            return
        if self._fd is not None and self.error is None:
            self.flush(finish=True)
            if self.error is None and not self.gzip:
                with contextlib.suppress(OSError):  # a pipe or /dev/null cannot sync
                    os.fsync(self._fd)
        self._close_fd()
        self.closed = True

    def summary(self) -> str:
        """One line for the user: how much was written, and what was not."""
        text = f"{self.lines_on_disk} lines written to {self.path}"
        if self.lost:
            text += f"; {self.lost} lines not written"
        if self.unrecordable:
            text += f"; {self.unrecordable} messages not representable as JSON"
        return text

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def report_recording(recorder: Recorder, sink: EventSink) -> None:
    """Show a failed recording in the sink's health (the TUI's status line, JSON `feeds`)."""
    if recorder.error is None:
        return
    health = sink.feed(RECORDING_FEED)
    health.state = "failed"
    health.last_error = f"recording FAILED: {recorder.error}"
    health.note = f"{recorder.lost} lines not recorded"
