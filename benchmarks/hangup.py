"""Close the terminal under liqtui many times and count the processes left behind (issue 11).

    python benchmarks/hangup.py --starts 30              # --demo and --replay, every kind
    python benchmarks/hangup.py --starts 60 --seed 3 --kinds close,eof --modes replay

Each start runs `python -m liqtui --demo` or `--replay FILE --speed 20` in its own 100×30
pseudo-terminal, reads what it draws for a random time (0 to --max-delay seconds, so some
hang-ups land during start-up, before the first frame), then takes the terminal away:
- close: the terminal's side (master) is closed, as when sshd loses the connection: the kernel
  hangs up liqtui's controlling terminal (SIGHUP) and every read gets EOF, every write EIO;
- hup:   SIGHUP to liqtui's process group first, then the master is closed (tmux kill-session);
- eof:   liqtui runs in a pty that is not its controlling terminal, so closing the master sends
  no signal at all: only the end of terminal input (EOF/EIO) tells it the terminal is gone.
A start passes when the process has exited within --limit seconds (2 by default). A process
still there is reported with the CPU it uses over the next second, then killed (SIGKILL); with
--stacks DIR its threads' Python stacks are written to DIR first (faulthandler on SIGUSR1).
The recording for --replay is a small generated busy market (benchmarks/busy_market.py).
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import random
import select
import signal
import statistics
import struct
import sys
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.pty_harness import proc_cpu_rss  # noqa: E402

KINDS = ("close", "hup", "eof")
MODES = ("demo", "replay")


@dataclass
class Start:
    mode: str
    kind: str
    delay_s: float
    bytes_seen: int = 0
    gone_after_s: float | None = None  # None: still running at the limit
    exit_status: int | None = None
    leftover_cpu_pct: float | None = None
    stacks: Path | None = None


# Runs liqtui as `python -m liqtui` would, with its thread stacks dumped on SIGUSR1.
_WITH_STACKS = (
    "import faulthandler, os, runpy, signal, sys; "
    "faulthandler.register(signal.SIGUSR1, file=open(os.environ['HANGUP_STACKS'], 'w'), "
    "all_threads=True); sys.argv[0] = 'liqtui'; runpy.run_module('liqtui', run_name='__main__')"
)


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if "PYTHONPATH" in env else "")
    env.update(TERM="xterm-256color", COLORTERM="truecolor", LIQTUI_CONFIG=os.devnull)
    env.pop("NO_COLOR", None)
    return env


def _spawn(argv: list[str], *, controlling: bool, stacks: Path | None = None) -> tuple[int, int]:
    """Start `argv` on a new 100×30 pty; (pid, master fd). `controlling`: the pty is the
    child's controlling terminal (as in a terminal window, ssh or tmux)."""
    master, slave = os.openpty()
    fcntl.ioctl(master, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
    env = _child_env()
    if stacks is not None:
        env["HANGUP_STACKS"] = str(stacks)
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.close(master)
            os.setsid()  # its own session and process group, as a terminal gives it
            if controlling:
                fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(slave, fd)
            if slave > 2:
                os.close(slave)
            os.chdir(ROOT)
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    os.close(slave)
    return pid, master


def _drain(master: int, seconds: float) -> int:
    """Read what the app draws for `seconds` (a terminal keeps reading); bytes read."""
    seen = 0
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        if not select.select([master], [], [], min(left, 0.05))[0]:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:
            break
        if not chunk:
            break
        seen += len(chunk)
    return seen


def _wait_gone(pid: int, limit_s: float) -> tuple[float | None, int | None]:
    start = time.monotonic()
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return time.monotonic() - start, status
        if time.monotonic() - start >= limit_s:
            return None, None
        time.sleep(0.01)


def _cpu_pct(pid: int, seconds: float = 1.0) -> float:
    before, _ = proc_cpu_rss(pid)
    time.sleep(seconds)
    after, _ = proc_cpu_rss(pid)
    return 100.0 * (after - before) / seconds


def one_start(
    mode: str,
    kind: str,
    delay_s: float,
    replay: Path | None,
    limit_s: float,
    stacks: Path | None = None,
) -> Start:
    argv = [sys.executable, "-c", _WITH_STACKS] if stacks else [sys.executable, "-m", "liqtui"]
    argv += ["--demo"] if mode == "demo" else ["--replay", str(replay), "--speed", "20"]
    run = Start(mode, kind, delay_s)
    pid, master = _spawn(argv, controlling=kind != "eof", stacks=stacks)
    try:
        run.bytes_seen = _drain(master, delay_s)
        if kind == "hup":
            os.killpg(pid, signal.SIGHUP)
        os.close(master)
        master = -1
        run.gone_after_s, run.exit_status = _wait_gone(pid, limit_s)
        if run.gone_after_s is None:
            run.leftover_cpu_pct = _cpu_pct(pid)
            if stacks is not None:
                os.kill(pid, signal.SIGUSR1)
                time.sleep(0.3)
                run.stacks = stacks
    finally:
        if master >= 0:
            os.close(master)
        if run.gone_after_s is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
    return run


def _describe_status(status: int | None) -> str:
    if status is None:
        return "-"
    if os.WIFSIGNALED(status):
        return signal.Signals(os.WTERMSIG(status)).name
    return f"exit {os.WEXITSTATUS(status)}"


def report(runs: Sequence[Start], limit_s: float) -> str:
    gone = [r for r in runs if r.gone_after_s is not None]
    left = [r for r in runs if r.gone_after_s is None]
    times = sorted(r.gone_after_s for r in gone if r.gone_after_s is not None)
    lines = [f"{len(runs)} starts; gone within {limit_s:g} s: {len(gone)}; left: {len(left)}"]
    if times:
        lines.append(
            f"time to exit: median {statistics.median(times):.2f} s, max {times[-1]:.2f} s"
        )
    spinning = [r for r in left if (r.leftover_cpu_pct or 0) > 50]
    if left:
        lines.append(f"left running and spinning (>50% CPU): {len(spinning)}")
    for mode in sorted({r.mode for r in runs}):
        for kind in sorted({r.kind for r in runs}):
            sel = [r for r in runs if r.mode == mode and r.kind == kind]
            if sel:
                n_left = sum(r.gone_after_s is None for r in sel)
                lines.append(f"  {mode:6} {kind:5}: {len(sel):3} starts, {n_left} left running")
    statuses: dict[str, int] = {}
    for r in gone:
        key = _describe_status(r.exit_status)
        statuses[key] = statuses.get(key, 0) + 1
    lines.append("exit statuses: " + ", ".join(f"{k} ×{v}" for k, v in sorted(statuses.items())))
    for r in left:
        lines.append(
            f"  left: {r.mode} {r.kind} after {r.delay_s:.2f} s "
            f"({r.bytes_seen} bytes drawn), {r.leftover_cpu_pct:.0f}% CPU"
            + (f", stacks in {r.stacks}" if r.stacks else "")
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--starts", type=int, default=30)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--kinds", default=",".join(KINDS), help="close,hup,eof")
    p.add_argument("--modes", default=",".join(MODES), help="demo,replay")
    p.add_argument("--max-delay", type=float, default=3.0, help="hang up within (3 s)")
    p.add_argument("--limit", type=float, default=2.0, help="must be gone within (2 s)")
    p.add_argument("--replay", type=Path, help="recording for --replay (default: generated)")
    p.add_argument("--stacks", type=Path, metavar="DIR", help="write leftovers' stacks here")
    args = p.parse_args(argv)
    kinds = [k for k in args.kinds.split(",") if k]
    modes = [m for m in args.modes.split(",") if m]
    if not set(kinds) <= set(KINDS) or not set(modes) <= set(MODES):
        p.error(f"kinds are {KINDS}, modes {MODES}")
    replay = args.replay
    if "replay" in modes and replay is None:
        from benchmarks.busy_market import BusyMarket, recording

        replay = recording(BusyMarket(hours=0.25, warmup_h=0.25))
    rng = random.Random(args.seed)
    runs: list[Start] = []
    for i in range(args.starts):
        mode, kind = modes[i % len(modes)], kinds[(i // len(modes)) % len(kinds)]
        # A quarter of the hang-ups land in the first 0.4 s: during start-up.
        delay = rng.uniform(0, 0.4) if rng.random() < 0.25 else rng.uniform(0, args.max_delay)
        stacks = None
        if args.stacks is not None:
            args.stacks.mkdir(parents=True, exist_ok=True)
            stacks = args.stacks / f"start-{i + 1:03}-{mode}-{kind}.txt"
        run = one_start(mode, kind, delay, replay, args.limit, stacks)
        if run.stacks is None and stacks is not None:
            stacks.unlink(missing_ok=True)
        runs.append(run)
        mark = "ok" if run.gone_after_s is not None else f"LEFT ({run.leftover_cpu_pct:.0f}% CPU)"
        print(
            f"{i + 1:3}/{args.starts} {mode:6} {kind:5} after {delay:4.2f} s: {mark}"
            + (f" in {run.gone_after_s:.2f} s" if run.gone_after_s is not None else ""),
            file=sys.stderr,
            flush=True,
        )
    print(report(runs, args.limit))
    return 0 if all(r.gone_after_s is not None for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
