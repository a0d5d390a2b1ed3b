"""The TUI ends with its terminal, and SIGTERM ends it like ctrl+c (issue 11 items 2 and 3).

Each test runs `python -m liqtui` on its own pseudo-terminal (python's pty module), as a
terminal window, ssh or tmux would, then takes the terminal away or sends SIGTERM. Starts run
side by side so the whole file takes a few seconds. benchmarks/hangup.py does the same over
many starts at random moments and counts what is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gzip
import json
import os
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.fake_exchanges import FakeExchanges

from liqtui.ui.lifecycle import HANGUP_STATUS, TERM_STATUS

REPO = Path(__file__).resolve().parent.parent
GONE_WITHIN_S = 2.0
FIRST_FRAME_BYTES = 2000  # a first frame of the app at 100×30 is far larger
START_TIMEOUT_S = 30.0  # a loaded CI machine starts Python and Textual slowly


class Terminal:
    """liqtui on a 100×30 pty: `master` is the terminal's side."""

    def __init__(self, args: list[str]) -> None:
        self.master, slave = os.openpty()
        fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
        env = dict(os.environ, TERM="xterm-256color", LIQTUI_CONFIG=os.devnull)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (str(REPO), env.get("PYTHONPATH"))))
        env.pop("NO_COLOR", None)
        # Its own session, as a terminal gives it; the pty is not its controlling terminal,
        # so closing the master sends no SIGHUP: only the tty itself says the terminal is gone.
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "liqtui", *args],
            stdin=slave, stdout=slave, stderr=slave, cwd=REPO, env=env, start_new_session=True,
        )  # fmt: skip
        os.close(slave)
        self.output = bytearray()

    def read_until(self, predicate: object, timeout_s: float = START_TIMEOUT_S) -> None:
        """Read what the app draws until `predicate(self)`; fails after `timeout_s`."""
        self.drain(timeout_s, predicate)
        assert predicate(self), f"timed out; output so far: {bytes(self.output[-400:])!r}"  # type: ignore[operator]

    def drain(self, seconds: float, predicate: object = None) -> bool:
        """Read what the app draws for `seconds` (a terminal keeps reading), until
        `predicate(self)` or the end of output; False at the end of output."""
        deadline = time.monotonic() + seconds
        while not (predicate is not None and predicate(self)):  # type: ignore[operator]
            left = deadline - time.monotonic()
            if left <= 0:
                return True
            if select.select([self.master], [], [], min(left, 0.1))[0]:
                try:
                    chunk = os.read(self.master, 65536)
                except OSError:  # EIO: the app closed its side
                    chunk = b""
                if not chunk:
                    return False
                self.output += chunk
        return True

    def first_frame(self) -> None:
        self.read_until(lambda t: len(t.output) >= FIRST_FRAME_BYTES)

    def close(self) -> float:
        """Close the terminal's side (an SSH drop); the seconds until the process was gone."""
        os.close(self.master)
        self.master = -1
        return self.gone_after()

    def gone_after(self) -> float:
        start = time.monotonic()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=GONE_WITHIN_S + 3)
        return time.monotonic() - start

    def kill(self) -> None:
        if self.master >= 0:
            os.close(self.master)
            self.master = -1
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    started: list[Terminal] = []
    yield started
    for term in started:
        term.kill()


def _recording(tmp_path: Path) -> Path:
    """A tiny recording: BTC's mark price and a few liquidations on Binance."""
    path = tmp_path / "rec.jsonl"
    t0 = 1_700_000_000_000
    lines = []
    for i in range(200):
        t = t0 + i * 1000
        mark = {"e": "markPriceUpdate", "E": t, "s": "BTCUSDT", "p": f"{60000 + i:.1f}"}
        lines.append(
            {"t": t, "ex": "binance", "msg": {"stream": "btcusdt@markPrice@1s", "data": mark}}
        )
        px = f"{59900 + i:.1f}"
        order = {"s": "BTCUSDT", "S": "SELL", "q": "0.5", "p": px, "ap": px, "X": "FILLED",
                 "l": "0.5", "z": "0.5", "T": t}  # fmt: skip
        force = {"e": "forceOrder", "E": t, "o": order}
        lines.append({"t": t, "ex": "binance", "msg": {"stream": "!forceOrder@arr", "data": force}})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def test_closed_terminal_ends_the_app_within_2_s(tmp_path: Path, terminals: list[Terminal]) -> None:
    """Demo and replay, the terminal closed after the first frame and during start-up; with
    and without SIGHUP (tmux kill-session sends it, a pty that is not the controlling terminal
    does not). Textual 8.2.8 alone left 14 of 36 such starts running, most at 100% CPU."""
    replay = _recording(tmp_path)
    cases = {
        "demo, closed after the first frame": (["--demo"], True, False),
        "replay, SIGHUP then closed": (["--replay", str(replay), "--speed", "5"], True, True),
        "demo, closed during start-up": (["--demo"], False, False),
    }
    started = {}
    for name, (args, _after_frame, _hup) in cases.items():
        term = Terminal(args)
        terminals.append(term)
        started[name] = term
    for name, (_args, after_frame, hup) in cases.items():
        term = started[name]
        if after_frame:
            term.first_frame()
        else:
            time.sleep(0.3)  # Python is still importing: before the first frame
        if hup:
            os.killpg(term.proc.pid, signal.SIGHUP)
        took = term.close()
        assert term.proc.returncode is not None, f"{name}: still running"
        assert took < GONE_WITHIN_S, f"{name}: gone after {took:.2f} s"
        assert term.proc.returncode == HANGUP_STATUS, (name, term.proc.returncode)


def test_sigterm_restores_the_terminal(terminals: list[Terminal]) -> None:
    """SIGTERM is a clean exit, as ctrl+c: the main screen, no mouse reporting and the cursor
    come back (the last sequences the app writes), exit status 143 (docs/tui.md)."""
    term = Terminal(["--demo"])
    terminals.append(term)
    term.first_frame()
    assert b"\x1b[?1049h" in term.output and b"\x1b[?1000h" in term.output
    term.proc.send_signal(signal.SIGTERM)
    assert not term.drain(GONE_WITHIN_S + 3), "output still open"  # to the end of output
    assert term.proc.wait(timeout=GONE_WITHIN_S) == TERM_STATUS
    out = bytes(term.output)
    # Each mode the app turned on is turned off after the last time it was turned on.
    for on, off in (
        (b"\x1b[?1049h", b"\x1b[?1049l"),  # the alternate screen
        (b"\x1b[?1000h", b"\x1b[?1000l"),  # mouse reporting
        (b"\x1b[?1003h", b"\x1b[?1003l"),
        (b"\x1b[?1006h", b"\x1b[?1006l"),
        (b"\x1b[?25l", b"\x1b[?25h"),  # the cursor hidden / shown
    ):
        assert out.rfind(off) > out.rindex(on), (on, off)


def _gz_lines(path: Path) -> list[str]:
    """The complete lines of a gzip file that may still be being written (no trailer yet)."""
    data = zlib.decompressobj(wbits=31).decompress(path.read_bytes())
    return data.decode().splitlines(keepends=True)[: data.count(b"\n")]


async def test_hang_up_keeps_every_recorded_line(tmp_path: Path) -> None:
    """`--record x.gz` on the live feeds (FakeExchanges on 127.0.0.1), the terminal closed:
    gone within 2 s, and the file is a whole gzip file (closed, not cut) holding at least every
    line that was on disk when the terminal went away."""
    record = tmp_path / "live.jsonl.gz"
    async with FakeExchanges(["BTC"], 1, speed=30.0, history_ms=60_000) as fake:
        config = fake.write_config(tmp_path / "fake.toml")
        term = Terminal(["--config", str(config), "--record", str(record)])
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while not (record.exists() and len(_gz_lines(record)) >= 50):
                assert time.monotonic() < deadline, "nothing recorded"
                await asyncio.to_thread(term.drain, 0.2)  # the app must not block on its tty
            before = len(_gz_lines(record))
            took = await asyncio.to_thread(term.close)
        finally:
            term.kill()
    assert term.proc.returncode == HANGUP_STATUS and took < GONE_WITHIN_S, took
    with gzip.open(record, "rt", encoding="utf-8") as fh:  # EOFError if it was not closed
        lines = fh.readlines()
    assert len(lines) >= before
    assert all(line.endswith("\n") and json.loads(line)["ex"] for line in lines)


def test_watchdog_ends_a_stuck_process_and_closes_first(tmp_path: Path) -> None:
    """Whatever the app does: a main thread that never returns is ended 1 s after a hang-up,
    with status 129, after the closers ran."""
    closed = tmp_path / "closed"
    code = (
        "import threading, pathlib, sys\n"
        "from liqtui.ui.lifecycle import Lifecycle\n"
        "life = Lifecycle(fds=())\n"
        "life.install()\n"
        f"life.add_closer(lambda: pathlib.Path({str(closed)!r}).write_text('closed'))\n"
        "print('ready', flush=True)\n"
        "threading.Event().wait()\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, env=env)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"ready\n"
        proc.send_signal(signal.SIGHUP)
        start = time.monotonic()
        assert proc.wait(timeout=GONE_WITHIN_S + 3) == HANGUP_STATUS
        assert time.monotonic() - start < GONE_WITHIN_S
        assert closed.read_text() == "closed"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
