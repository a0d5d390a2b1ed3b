"""Leaving when the terminal goes away, or on SIGTERM, whatever Textual does (issue 11).

A hang-up — SIGHUP, or the terminal itself hung up (POLLHUP on the tty: the pty master was
closed, which sends no signal when the tty is not the controlling one) — asks the app to exit
and arms a watchdog: if the process is still there `grace_s` later, the closers run (the
recording is closed) and os._exit ends it, so a Textual shutdown stuck on a dead terminal
cannot leave the process behind. SIGTERM asks the app to exit as ctrl+q does (the terminal is
restored) and arms a longer watchdog. Imports nothing from Textual (liqtui.ui.driver does).
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterable
from types import FrameType
from typing import Any

HANGUP_STATUS = 129  # 128 + SIGHUP, as a shell reports a hung-up job
TERM_STATUS = 143  # 128 + SIGTERM
HANGUP_GRACE_S = 1.0  # the terminal gone: out within 2 s, on a busy machine too
TERM_GRACE_S = 3.0  # SIGTERM: a clean exit normally takes well under 1 s
_CLOSE_WAIT_S = 0.3  # the watchdog waits this long for closers the main thread is running

_POLL_GONE = select.POLLHUP | select.POLLERR | select.POLLNVAL
_active: Lifecycle | None = None


def active() -> Lifecycle | None:
    """The installed lifecycle (signals are per process, so there is at most one)."""
    return _active


def _terminal_fds(fds: Iterable[int]) -> list[int]:
    """The fds among `fds` that are character devices (a tty, even one already hung up)."""
    found = []
    for fd in fds:
        with contextlib.suppress(OSError):
            if stat.S_ISCHR(os.fstat(fd).st_mode):
                found.append(fd)
    return found


def terminal_gone(fds: Iterable[int] = (0, 1)) -> bool:
    """True when one of `fds` is a terminal that has hung up (isatty() is then False too)."""
    watched = _terminal_fds(fds)
    if not watched:
        return False
    poller = select.poll()
    for fd in watched:
        poller.register(fd, 0)  # no events asked: only hang-up and errors are reported
    return any(mask & _POLL_GONE for _fd, mask in poller.poll(0))


class Lifecycle:
    """Signal handlers, a hung-up-terminal watcher and the last-resort watchdog of one run."""

    def __init__(
        self,
        *,
        grace_s: float = HANGUP_GRACE_S,
        term_grace_s: float = TERM_GRACE_S,
        fds: Iterable[int] = (0, 1),
    ) -> None:
        self.grace_s = grace_s
        self.term_grace_s = term_grace_s
        self.status: int | None = None  # HANGUP_STATUS / TERM_STATUS once asked to leave
        self.hung_up = False
        self._fds = tuple(fds)
        # Reentrant: a signal handler runs on the main thread, maybe while it holds the lock.
        self._lock = threading.RLock()
        self._closing = threading.Lock()  # held while the closers run (once)
        self._closers: list[Callable[[], None]] = []
        self._closed = False
        self._exit_app: Callable[[int], None] | None = None
        self._watchdog: threading.Thread | None = None
        self._deadline = float("inf")
        self._previous: dict[int, Any] = {}
        self._wake_r, self._wake_w = -1, -1

    # -- set-up -----------------------------------------------------------------------------

    def install(self) -> None:
        """SIGHUP and SIGTERM handlers and the watcher of the terminal (main thread only)."""
        global _active
        _active = self
        for sig, handler in ((signal.SIGHUP, self._on_sighup), (signal.SIGTERM, self._on_sigterm)):
            self._previous[sig] = signal.signal(sig, handler)
        watched = _terminal_fds(self._fds)
        if watched:
            self._wake_r, self._wake_w = os.pipe()
            threading.Thread(
                target=self._watch, args=(watched,), name="liqtui-hangup-watch", daemon=True
            ).start()

    def uninstall(self) -> None:
        """Restore the signal handlers, stop the watcher. After a hang-up, stdout and stderr
        point at /dev/null so that nothing late fails on the dead terminal (Python would turn
        a failed flush at exit into status 120). The watchdog, if armed, stays armed."""
        global _active
        for sig, previous in self._previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, previous)
        self._previous.clear()
        with self._lock:
            if self._wake_w >= 0:  # the watcher is still watching: wake it (it closes the pipe)
                with contextlib.suppress(OSError):
                    os.write(self._wake_w, b"x")
                self._wake_w = -1
        if self.hung_up:
            devnull = open(os.devnull, "w")  # noqa: SIM115 - lives until the process ends
            sys.stdout = sys.stderr = devnull
        if _active is self:
            _active = None

    def add_closer(self, closer: Callable[[], None]) -> None:
        """Something to close before the process ends, however it ends (a recording)."""
        self._closers.append(closer)

    def attach_app(self, exit_app: Callable[[int], None]) -> int | None:
        """`exit_app(status)` asks the running app to exit; callable from any thread and from
        a signal handler. Returns the status of a hang-up or SIGTERM that came before: the
        caller makes the app exit with it (before its application mode, as nothing is shown)."""
        with self._lock:
            self._exit_app = exit_app
            return self.status

    def detach_app(self) -> None:
        with self._lock:
            self._exit_app = None

    # -- leaving ----------------------------------------------------------------------------

    def hang_up(self) -> None:
        """The terminal went away: exit, and be gone within `grace_s` whatever happens."""
        self.hung_up = True
        self._leave(HANGUP_STATUS, self.grace_s)

    def terminate(self) -> None:
        """SIGTERM: exit cleanly like ctrl+q, or be ended after `term_grace_s`."""
        self._leave(TERM_STATUS, self.term_grace_s)

    def close_all(self) -> None:
        """Run the closers once (the first caller runs them; errors are ignored: the process
        is ending and the terminal may be gone)."""
        with self._closing:
            if self._closed:
                return
            self._closed = True
            for closer in self._closers:
                with contextlib.suppress(Exception):
                    closer()

    def _leave(self, status: int, grace_s: float) -> None:
        with self._lock:
            if self.status is None or status == HANGUP_STATUS:
                self.status = status  # a hang-up after SIGTERM: the terminal is gone too
            self._deadline = min(self._deadline, time.monotonic() + grace_s)
            start = self._watchdog is None
            if start:
                self._watchdog = threading.Thread(
                    target=self._last_resort, name="liqtui-watchdog", daemon=True
                )
            watchdog, status = self._watchdog, self.status
        if start and watchdog is not None:
            watchdog.start()
        self._ask_app(status)

    def _ask_app(self, status: int) -> None:
        exit_app = self._exit_app
        if exit_app is not None:
            with contextlib.suppress(Exception):  # the loop may be closing
                exit_app(status)

    def _last_resort(self) -> None:
        while (left := self._deadline - time.monotonic()) > 0:
            time.sleep(min(left, 0.05))  # a later hang-up may bring the deadline forward
        # Still here: Textual's shutdown is stuck (a dead terminal). Close what must be closed;
        # if the main thread is closing it right now, give that a moment.
        if self._closing.acquire(timeout=_CLOSE_WAIT_S):
            self._closing.release()
            self.close_all()
        os._exit(self.status or HANGUP_STATUS)

    # -- detection --------------------------------------------------------------------------

    def _on_sighup(self, _signum: int, _frame: FrameType | None) -> None:
        self.hang_up()

    def _on_sigterm(self, _signum: int, _frame: FrameType | None) -> None:
        self.terminate()

    def _watch(self, fds: list[int]) -> None:
        """Wait (without reading: Textual reads the input) until the terminal hangs up."""
        poller = select.poll()
        for fd in fds:
            poller.register(fd, 0)
        poller.register(self._wake_r, select.POLLIN)
        wake_r, wake_w = self._wake_r, self._wake_w
        while True:
            events = poller.poll()
            if any(fd == wake_r for fd, _mask in events):
                break
            if any(mask & _POLL_GONE for _fd, mask in events):
                with self._lock:
                    self._wake_w = -1  # nobody writes to the pipe once it is closed below
                self.hang_up()
                break
        for fd in (wake_r, wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
