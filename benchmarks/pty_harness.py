"""Run a command in a pseudo-terminal of a given size and count what it writes (tui.md App. A).

The bytes read from the master side are what a terminal — or an SSH link — would carry.
CPU is read from /proc for the child's process tree, so it includes everything liqtui does.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


@dataclass
class PtyRun:
    wall_s: float = 0.0
    bytes_out: int = 0
    cpu_s: float = 0.0
    first_frame_s: float | None = None
    samples: list[tuple[float, float, int]] = field(default_factory=list)  # (t, cpu_s, rss)
    exit_status: int | None = None

    @property
    def cpu_pct(self) -> float:
        return 100.0 * self.cpu_s / self.wall_s if self.wall_s else 0.0

    @property
    def bytes_per_s(self) -> float:
        return self.bytes_out / self.wall_s if self.wall_s else 0.0


def proc_cpu_rss(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system, children included) and resident bytes of a process."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm") as fh:
            rss_pages = int(fh.read().split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return 0.0, 0
    # fields[11..14] = utime, stime, cutime, cstime (after the state field at index 0)
    ticks = sum(int(x) for x in fields[11:15])
    return ticks / CLK_TCK, rss_pages * PAGE


def run_in_pty(
    argv: Sequence[str],
    *,
    cols: int = 160,
    rows: int = 50,
    duration_s: float = 10.0,
    env: dict[str, str] | None = None,
    first_frame_marker: bytes | None = None,
    sample_every_s: float = 0.0,
    on_start: Callable[[], None] | None = None,
) -> PtyRun:
    """Run `argv` for `duration_s` in a cols×rows pty, then SIGTERM it; count bytes and CPU."""
    result = PtyRun()
    child_env = dict(os.environ if env is None else env)
    child_env.setdefault("TERM", "xterm-256color")
    child_env.setdefault("COLORTERM", "truecolor")
    start = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:  # child
        os.execvpe(argv[0], list(argv), child_env)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    os.kill(pid, signal.SIGWINCH)
    if on_start is not None:
        on_start()
    next_sample = start
    seen = b""
    try:
        while True:
            now = time.monotonic()
            if now - start >= duration_s:
                break
            if sample_every_s and now >= next_sample:
                cpu, rss = proc_cpu_rss(pid)
                result.samples.append((now - start, cpu, rss))
                next_sample = now + sample_every_s
            ready, _, _ = select.select([fd], [], [], 0.05)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:
                break
            if not chunk:
                break
            result.bytes_out += len(chunk)
            if first_frame_marker is not None and result.first_frame_s is None:
                seen = (seen + chunk)[-4096:]
                if first_frame_marker in seen:
                    result.first_frame_s = time.monotonic() - start
    finally:
        result.cpu_s, _ = proc_cpu_rss(pid)
        result.wall_s = time.monotonic() - start
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                done, status = os.waitpid(pid, os.WNOHANG)
                if done:
                    result.exit_status = status
                    break
                try:  # keep draining so the child is not blocked writing
                    if select.select([fd], [], [], 0.05)[0]:
                        os.read(fd, 65536)
                except OSError:
                    pass
            if result.exit_status is not None:
                break
        os.close(fd)
    return result
