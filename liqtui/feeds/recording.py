"""The recording format: JSON Lines, gzip-compressed when the file name ends in .gz.

One line per received message:
    {"t": <receive time, ms since the epoch>, "ex": "<exchange id>", "msg": <raw message>}
`msg` is the message exactly as the exchange sent it: the JSON object (or array) of a JSON
frame, or a string for a non-JSON frame (OKX's "pong"). A REST poll result adds
"rest": "<endpoint name>". The recorder flushes every line, so a crash loses at most the last
one; readers treat a truncated last line as the normal end of such a file.
"""

from __future__ import annotations

import gzip
import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO


@dataclass(frozen=True, slots=True)
class RecordLine:
    t: int
    ex: str
    msg: object
    rest: str | None = None


@dataclass(slots=True)
class ReadStats:
    lines: int = 0
    bad_lines: int = 0
    truncated_tail: bool = False
    last_error: str | None = None


def _open_text_lines(path: Path) -> IO[bytes]:
    if path.suffix == ".gz":
        return gzip.open(path, "rb")
    return path.open("rb")


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


def read_recording(path: str | Path, stats: ReadStats | None = None) -> Iterator[RecordLine]:
    """Yield the valid lines of a recording; count the rest in `stats`. Never raises on content.

    Raises OSError when the file cannot be opened.
    """
    stats = stats if stats is not None else ReadStats()
    path = Path(path)
    with _open_text_lines(path) as fh:
        while True:
            try:
                raw = fh.readline()
            except (EOFError, gzip.BadGzipFile, OSError) as exc:  # a cut-off gzip stream
                stats.truncated_tail = True
                stats.last_error = f"compressed stream ends early ({exc.__class__.__name__})"
                return
            if not raw:
                return
            complete = raw.endswith(b"\n")
            text = raw.strip()
            if not text:
                continue
            stats.lines += 1
            try:
                yield _validate(json.loads(text))
            except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeError too
                stats.bad_lines += 1
                if not complete:
                    stats.truncated_tail = True
                stats.last_error = f"line {stats.lines}: {exc}"[:200]


class Recorder:
    """Appends received messages to a recording, one flushed line each."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lines = 0
        raw: IO[bytes] = self.path.open("ab")
        self._gz: gzip.GzipFile | None = None
        if self.path.suffix == ".gz":
            self._gz = gzip.GzipFile(fileobj=raw, mode="ab")
            self._out: IO[str] = io.TextIOWrapper(self._gz, encoding="utf-8")
        else:
            self._out = io.TextIOWrapper(raw, encoding="utf-8")
        self._raw = raw

    def write(self, ex: str, msg: object, *, t: int | None = None, rest: str | None = None) -> None:
        line: dict[str, object] = {"t": t if t is not None else int(time.time() * 1000), "ex": ex}
        line["msg"] = msg
        if rest is not None:
            line["rest"] = rest
        self._out.write(json.dumps(line, separators=(",", ":"), allow_nan=False) + "\n")
        self._out.flush()
        if self._gz is not None:
            self._gz.flush()  # a sync flush: everything written so far can be decompressed
        self.lines += 1

    def write_frame(self, ex: str, frame: str, *, t: int | None = None) -> None:
        """Record a text frame: JSON frames as their object, anything else as a string."""
        try:
            msg: object = json.loads(frame)
        except ValueError:
            msg = frame
        self.write(ex, msg, t=t)

    def close(self) -> None:
        self._out.close()
        if self._gz is not None:
            self._raw.close()

    def __enter__(self) -> Recorder:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
