"""Textual's Linux driver, made to end with its terminal.

When the terminal goes away (SSH drop, `tmux kill-session`), Textual 8.2.8's LinuxDriver can
keep the process alive for ever (benchmarks/hangup.py counts it; thread stacks of the leftovers):
- its writer thread dies on the first failed write (EIO after a hang-up) with output still
  queued; the next writes fill its 30-entry queue and the main thread blocks on it for good
  (stop_application_mode, close);
- its input thread reads EOF at once, again and again, from a hung-up tty and loops on it at
  100% CPU, and as a non-daemon thread keeps the process from ending;
- the SIGCONT that comes with a hang-up restarts application mode on the dead terminal (a new
  writer and input thread: `os.isatty` is False there, so Textual's own check is skipped).
`LiqDriver` writes through `_TerminalOutput` (a failed write means the terminal is gone: later
output is dropped, so the writer thread lives on and drains its queue), ends its input loop at
the end of terminal input or a read error, ignores SIGCONT once the terminal is gone, and tells
the installed lifecycle (liqtui.ui.lifecycle), which asks the app to exit and arms the last
resort.
"""

from __future__ import annotations

import contextlib
import functools
import os
import selectors
import sys
import threading
from codecs import getincrementaldecoder
from typing import IO, TYPE_CHECKING, Any

from textual._loop import loop_last
from textual._parser import ParseError
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

from liqtui.ui import lifecycle

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.app import App

READ_BYTES = 4096


class _TerminalOutput:
    """The file Textual's writer thread writes to: the terminal until a write fails, nothing
    after that (the writer thread would die on the error, and Textual's main thread then blocks
    on its full queue)."""

    def __init__(self, file: IO[str], on_lost: Callable[[str], None]) -> None:
        self._file = file
        self._on_lost = on_lost
        self._lock = threading.Lock()
        self.lost = False

    def write(self, text: str) -> None:
        if not self.lost:
            self._try(self._file.write, text)

    def flush(self) -> None:
        if not self.lost:
            self._try(self._file.flush)

    def fileno(self) -> int:
        return self._file.fileno()

    def _try(self, call: Callable[..., Any], *args: Any) -> None:
        try:
            call(*args)
        except (OSError, ValueError) as exc:  # EIO: hung up; ValueError: closed
            with self._lock:
                first, self.lost = not self.lost, True
            if first:
                self._on_lost(f"terminal write failed ({getattr(exc, 'strerror', None) or exc})")


class TerminalDriver(LinuxDriver):
    """LinuxDriver that ends with its terminal (see the module's docstring)."""

    def __init__(self, app: App[Any], **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.terminal_lost = False
        terminal = self._file or sys.stderr  # sys.__stderr__ is None only without a console
        self._output = _TerminalOutput(terminal, self._lose)
        # What Textual's WriterThread writes to: it only calls write, flush and fileno.
        self._file = self._output  # type: ignore[assignment]
        running = lifecycle.active()
        if running is not None:  # SIGHUP, SIGTERM, a hung-up tty: the app exits with a status
            loop, app_exit = self._loop, app.exit

            def exit_app(status: int) -> None:
                loop.call_soon_threadsafe(functools.partial(app_exit, return_code=status))

            pending = running.attach_app(exit_app)
            if pending is not None:  # gone during start-up: Textual skips application mode
                app.exit(return_code=pending)

    def close(self) -> None:
        super().close()
        running = lifecycle.active()
        if running is not None:
            running.detach_app()

    def _lose(self, reason: str) -> None:
        """The terminal is gone: no more output, no restart; the lifecycle ends the process."""
        self.terminal_lost = True
        self._output.lost = True
        running = lifecycle.active()
        if running is not None:
            running.hang_up()

    def start_application_mode(self) -> None:
        if self.terminal_lost:
            return
        super().start_application_mode()

    def _sigcont_application(self, *args: Any) -> None:
        # A hang-up sends SIGHUP and SIGCONT together; only a live terminal is resumed.
        if not self.terminal_lost and self.input_tty and not os.isatty(self.fileno):
            self._lose("hang-up (the terminal is gone)")
        if self.terminal_lost:
            return
        super()._sigcont_application(*args)

    def run_input_thread(self) -> None:
        """Textual's input loop, which ends at the end of input. A tty at EOF (or failing with
        EIO) has hung up; other input (`< /dev/null`) just has no more keys to give."""
        selector = selectors.SelectSelector()
        selector.register(self.fileno, selectors.EVENT_READ)
        fileno = self.fileno
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def process(ready: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> bool:
            """Feed what is there to read to the parser; False at the end of input."""
            for last, (_key, mask) in loop_last(ready):
                if mask & selectors.EVENT_READ:
                    try:
                        data = os.read(fileno, READ_BYTES)
                    except OSError as exc:
                        if self.input_tty:
                            self._lose(f"terminal read failed ({exc.strerror})")
                        return False
                    if not data:  # bytes, not decoded text: a split UTF-8 character is not EOF
                        if self.input_tty:
                            self._lose("end of terminal input")
                        return False
                    for event in parser.feed(decode(data, final=final and last)):
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)
            return True

        try:
            while not self.exit_event.is_set():
                if not process(selector.select(0.1)):
                    return
            selector.unregister(fileno)
            process(selector.select(0.1), final=True)
        finally:
            selector.close()
            with contextlib.suppress(EOFError, ParseError):
                for _event in parser.feed(""):
                    pass
