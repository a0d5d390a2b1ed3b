"""Whole-app figures, each beside a peer measured in the same invocation:

- time from start to the first frame in a 160×50 pseudo-terminal (`liqtui --replay FILE` and
  `liqtui --demo`): the first complete screen (its footer drawn) and the first frame showing
  data (the ladder's price row ▶) — beside a bare Textual app that draws one Static;
- wall time of `liqtui snapshot --replay FILE --format json` (hyperfine-style: a warm-up run,
  then several runs interleaved with the peer; median and min) — beside `python -c "import
  liqtui"` (interpreter and import), and beside the stdlib read floor below (issue 14);
- replay speed: `ReplaySource(FILE, speed=None).run_sync` into an engine built from the default
  settings, in recorded hours per second of wall time — beside reading the same file with the
  standard library only, without parsing or applying (gzip + json.loads of every line: the
  floor of issue 14; liqtui's own reader is part of the replay);
- peak memory of a process that replays 24 h of the busy market into an engine — beside the
  same process before replaying (interpreter, liqtui, numpy, an empty engine). The peak is
  VmHWM, not ru_maxrss: on Linux a child's ru_maxrss starts at its parent's size at fork.

    python benchmarks/app_bench.py [--quick] [--runs N] [--hours-memory 24]

FILE is the busy-market recording (benchmarks/busy_market.py: BTC, ETH, SOL on Binance, Bybit
and OKX with cascades; generated once into /tmp/liqtui-bench, cached). Every liqtui process runs
from a temporary directory (so the installed package is the one imported) with an empty
XDG_CONFIG_HOME (so no user config changes the figures).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import json
import os
import pty
import select
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable (after site-packages)
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks import Row, machine, machine_text, prefer_installed_liqtui, render_table
from benchmarks.busy_market import BusyMarket, metadata, recording

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")
# What the app writes, in order: a blank frame (background only), then the first frame with
# content (the status line "1:BTC …" and the view), then — a frame or more later — the footer.
FRAME = b"1:BTC"  # the status line's first watchlist slot: the first frame with content
DATA = "▶".encode()  # the ladder's price row: the first frame that shows the market
FOOTER = b"Quit"  # the footer's binding label: the screen is complete
PEER_TEXT = "liqtui-bench peer: one Static"
PEER_APP = f"""
from textual.app import App
from textual.widgets import Static

class Peer(App):
    def compose(self):
        yield Static({PEER_TEXT!r})

Peer().run()
"""


# -- running things ----------------------------------------------------------------------------
def child_env(config_home: str) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("LIQTUI_CONFIG", "NO_COLOR", "LIQTUI_DEBUG", "PYTHONPATH"):
        env.pop(name, None)
    env.update(TERM="xterm-256color", COLORTERM="truecolor", XDG_CONFIG_HOME=config_home)
    return env


class Sandbox:
    """A temporary working directory and an empty config home for child processes."""

    def __init__(self) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="liqtui-bench-")
        self.cwd = self._tmp.name
        config = Path(self.cwd) / "config"
        config.mkdir()
        self.env = child_env(str(config))

    def liqtui(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "liqtui", *args]

    def close(self) -> None:
        self._tmp.cleanup()

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def proc_cpu_rss(pid: int) -> tuple[float, int]:
    """CPU seconds (user + system) and resident bytes of a live process, from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        with open(f"/proc/{pid}/statm") as fh:
            rss_pages = int(fh.read().split()[1])
    except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
        return 0.0, 0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK, rss_pages * PAGE


@dataclass
class PtyResult:
    marks: dict[str, float] = field(default_factory=dict)  # marker → seconds since start
    wall_s: float = 0.0
    cpu_s: float = 0.0
    bytes_out: int = 0
    samples: list[tuple[float, float, int, int]] = field(default_factory=list)  # t, cpu, rss, B
    exit_status: int | None = None


def run_pty(
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: str,
    markers: dict[str, bytes],
    until: Sequence[str] = (),
    timeout_s: float = 60.0,
    cols: int = 160,
    rows: int = 50,
    sample_every_s: float = 0.0,
    on_sample: Callable[[tuple[float, float, int, int]], None] | None = None,
) -> PtyResult:
    """Run `argv` in a cols×rows pty; note when each marker first appears in what it writes;
    stop when every marker in `until` has appeared, or at `timeout_s` (SIGTERM, then SIGKILL).
    With `sample_every_s`, sample (t, CPU seconds, RSS, bytes written so far) from /proc."""
    import fcntl
    import struct
    import termios

    result = PtyResult()
    start = time.monotonic()
    pid, fd = pty.fork()
    if pid == 0:  # child
        try:
            os.chdir(cwd)
            os.execvpe(argv[0], list(argv), env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    tail = b""
    pending = dict(markers)
    next_sample = start
    try:
        while True:
            now = time.monotonic()
            if now - start >= timeout_s or (until and all(m in result.marks for m in until)):
                break
            if sample_every_s and now >= next_sample:
                cpu, rss = proc_cpu_rss(pid)
                sample = (now - start, cpu, rss, result.bytes_out)
                result.samples.append(sample)
                if on_sample is not None:
                    on_sample(sample)
                next_sample += sample_every_s
            if not select.select([fd], [], [], 0.02)[0]:
                continue
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            result.bytes_out += len(chunk)
            if pending:
                seen = tail + chunk
                t = time.monotonic() - start
                for name, marker in list(pending.items()):
                    if marker in seen:
                        result.marks[name] = t
                        del pending[name]
                tail = seen[-64:]
    finally:
        result.cpu_s, _ = proc_cpu_rss(pid)
        result.wall_s = time.monotonic() - start
        result.exit_status = _stop(pid, fd)
        os.close(fd)
    return result


def _stop(pid: int, fd: int) -> int | None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            try:  # keep draining so the child is never blocked writing
                if select.select([fd], [], [], 0.05)[0]:
                    os.read(fd, 1 << 16)
            except OSError:
                time.sleep(0.05)
    return None


def vm_hwm(pid: int | str = "self") -> int:
    """Peak resident bytes of a process image (VmHWM). Unlike ru_maxrss it does not inherit
    the parent's size: on Linux a child's ru_maxrss starts at what it had when forked, so a
    child of a 100 MB benchmark process reports at least 100 MB whatever it does."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, ValueError):
        pass
    return 0


def run_timed(argv: Sequence[str], *, env: dict[str, str], cwd: str) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak RSS bytes) of one run, output discarded; raises on a
    non-zero exit. The peak is VmHWM polled every 5 ms by a thread (the wall time is the
    blocking wait's, unaffected by the polling)."""
    start = time.perf_counter()
    proc = subprocess.Popen(
        list(argv), env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    peak = [0]
    done = threading.Event()

    def poll() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], vm_hwm(proc.pid))

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    poller.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    stderr = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
    if proc.stderr:
        proc.stderr.close()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} exited {proc.returncode}: {stderr.strip()[:300]}")
    return wall, usage.ru_utime + usage.ru_stime, peak[0]


# -- the figures -----------------------------------------------------------------------------
def first_price_delay(replay: Path, symbol: str = "BTC") -> float:
    """Recorded seconds from the recording's first line to the first line after which the
    engine has a price for `symbol` (what the ladder's ▶ needs)."""
    from liqtui.exchanges import make_parsers
    from liqtui.feeds.recording import read_recording
    from liqtui.feeds.replay import apply_line

    engine, parsers, first = _engine(), make_parsers(), None
    for line in read_recording(replay):
        first = line.t if first is None else first
        apply_line(line, engine, parsers)  # type: ignore[arg-type]
        if symbol in engine.markets and engine.snapshot(symbol).price:  # type: ignore[attr-defined]
            return (line.t - first) / 1000
        if line.t - first > 60_000:
            break
    return float("nan")


def first_frames(sb: Sandbox, replay: Path, runs: int, log: Callable[[str], None]) -> list[Row]:
    """Start → first frame, interleaved: liqtui --replay, liqtui --demo, the bare Textual app."""
    app_markers = {"frame": FRAME, "data": DATA, "footer": FOOTER}
    cases = {
        "replay": (sb.liqtui("--replay", str(replay)), app_markers),
        "demo": (sb.liqtui("--demo"), app_markers),
        "peer": ([sys.executable, "-c", PEER_APP], {"frame": PEER_TEXT.encode()}),
    }
    times: dict[str, dict[str, list[float]]] = {k: {m: [] for m in app_markers} for k in cases}
    for i in range(runs + 1):  # the first round warms the page cache: not counted
        for name, (argv, markers) in cases.items():
            r = run_pty(argv, env=sb.env, cwd=sb.cwd, markers=markers, until=list(markers),
                        timeout_s=60)  # fmt: skip
            missing = [m for m in markers if m not in r.marks]
            if missing:
                raise RuntimeError(f"{name}: no {missing} within 60 s ({r.bytes_out} bytes)")
            if i:
                for m, t in r.marks.items():
                    times[name][m].append(t)
        log(f"first frame: round {i}/{runs} done")
    imports = [sys.executable, "-c", "import liqtui.cli, liqtui.ui.app, liqtui.feeds.replay"]
    import_times = [run_timed(imports, env=sb.env, cwd=sb.cwd)[0] for _ in range(runs)]
    peer = times["peer"]["frame"]
    label = "bare Textual app, one Static"
    footer = {k: statistics.median(times[k]["footer"]) for k in ("replay", "demo")}
    delay = first_price_delay(replay)
    return [
        Row("app", "imports of the app (cli, ui.app, feeds.replay)", import_times, "s", label,
            peer, note="part of every start-up below; no terminal, no frame"),
        Row("app", "start → first frame, liqtui --replay (160×50)", times["replay"]["frame"], "s",
            label, peer, note=f"first frame with content (the status line); the footer follows "
            f"a frame later (median {footer['replay']:.2f} s)"),
        Row("app", "start → first frame with data (▶), --replay", times["replay"]["data"], "s",
            label, peer, note=f"at speed 1 this includes the recording's own {delay:.2f} s "
            "from its first line to the first line that gives BTC a price"),
        Row("app", "start → first frame, liqtui --demo", times["demo"]["frame"], "s", label,
            peer, note=f"footer at {footer['demo']:.2f} s (median)"),
        Row("app", "start → first frame with data (▶), --demo", times["demo"]["data"], "s", label,
            peer, note="the demo simulates 6 h of warm-up as the app starts (yielding to the "
            "UI); ▶ comes with the first frame or a frame or two later"),
    ]  # fmt: skip


def snapshot_wall(sb: Sandbox, replay: Path, runs: int, hours: float) -> list[Row]:
    """`liqtui snapshot --replay FILE --format json`, hyperfine-style, against the import."""
    snap = sb.liqtui("snapshot", "--replay", str(replay), "--format", "json")
    peer = [sys.executable, "-c", "import liqtui"]
    run_timed(snap, env=sb.env, cwd=sb.cwd)  # warm-up
    run_timed(peer, env=sb.env, cwd=sb.cwd)
    walls, peers, cpus, rss, floors = [], [], [], [], []
    for _ in range(runs):
        wall, cpu, peak = run_timed(snap, env=sb.env, cwd=sb.cwd)
        walls.append(wall)
        cpus.append(cpu)
        rss.append(peak)
        peers.append(run_timed(peer, env=sb.env, cwd=sb.cwd)[0])
        floors.append(read_floor(replay))
    name = f"wall, liqtui snapshot --replay ({hours:g} h busy) --format json"
    return [
        Row("app", name, walls, "s", 'python -c "import liqtui"', peers,
            note=f"min {min(walls):.2f} s; CPU {statistics.median(cpus):.2f} s; "
                 f"peak RSS {statistics.median(rss) / 1e6:.0f} MB"),
        Row("app", name, walls, "s", "read only (stdlib gunzip + json.loads), in process",
            floors, note="issue 14's target: the snapshot within 1.5× the floor's time"),
    ]  # fmt: skip


def _engine() -> object:
    """An engine as the CLI builds it from the shipped defaults (no user config)."""
    from liqtui.config import load_settings
    from liqtui.model.engine import engine_from_settings

    saved = {k: os.environ.get(k) for k in ("XDG_CONFIG_HOME", "LIQTUI_CONFIG")}
    with tempfile.TemporaryDirectory() as empty:
        os.environ["XDG_CONFIG_HOME"] = empty
        os.environ.pop("LIQTUI_CONFIG", None)
        try:
            return engine_from_settings(load_settings(None))
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


def read_floor(path: Path) -> float:
    """Seconds to read the recording with the standard library only: gunzip (gzip module, every
    member) and json.loads of every line. No replay can read it more cheaply with these tools;
    liqtui's own reader is measured by the replay itself."""
    start = time.perf_counter()
    with gzip.open(path, "rb") as fh:
        for raw in fh:
            json.loads(raw)
    return time.perf_counter() - start


def replay_speed(replay: Path, runs: int, hours: float) -> list[Row]:
    """Recorded hours per second through read → parse → apply, against the stdlib floor."""
    from liqtui.feeds.replay import ReplaySource

    speeds, floors, lines = [], [], 0
    for _ in range(runs):
        floors.append(hours / read_floor(replay))
        engine = _engine()
        source = ReplaySource(replay, speed=None)
        start = time.perf_counter()
        source.run_sync(engine)  # type: ignore[arg-type]
        speeds.append(hours / (time.perf_counter() - start))
        lines = source.stats.lines
    lines_per_s = [s / hours * lines for s in speeds]
    return [
        Row("app", f"replay speed, read + parse + apply ({hours:g} h busy)", speeds, "h/s",
            "read only (stdlib gunzip + json.loads)", floors,
            note=f"{lines:,} lines: {statistics.median(lines_per_s) / 1e3:.0f}k lines/s; "
                 "÷ peer is the share of the floor speed the full replay keeps"),
    ]  # fmt: skip


MEMORY_CHILD = r"""
import gc, json, os, sys, threading, time
from liqtui.config import load_settings
from liqtui.feeds.replay import ReplaySource
from liqtui.model.engine import engine_from_settings

def rss():
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

def peak():  # VmHWM: ru_maxrss would start at the parent's size when it forked us
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024

window = int(sys.argv[2]) if len(sys.argv) > 2 else None
engine = engine_from_settings(load_settings(None), window_ms=window)
source = ReplaySource(sys.argv[1], speed=None)
gc.collect()
before = {"rss": rss(), "peak": peak()}
samples, done = [], threading.Event()

def sample():
    t0 = time.perf_counter()
    while not done.wait(0.5):
        samples.append((time.perf_counter() - t0, engine.clock_ms, rss()))

thread = threading.Thread(target=sample, daemon=True)
start = time.perf_counter()
thread.start()
source.run_sync(engine)
wall = time.perf_counter() - start
done.set()
thread.join()
after_peak, after_rss = peak(), rss()
gc.collect()
snaps = {s: engine.snapshot(s) for s in engine.symbols()}
print(json.dumps({
    "before": before, "peak": after_peak, "rss_end": after_rss, "rss_after_gc": rss(),
    "wall": wall, "lines": source.stats.lines, "events": engine.events_applied,
    "state_bytes": sum(m.nbytes for m in engine.markets.values()),
    "realized": {s: snap.realized_count for s, snap in snaps.items()},
    "samples": samples,
}))
"""


def memory_child(sb: Sandbox, replay: Path, window_ms: int | None = None) -> dict:
    """Replay the file in a fresh process (headless, engine from the default settings, the
    realized window `window_ms` or the default 24 h); its memory before, during and after."""
    argv = [sys.executable, "-c", MEMORY_CHILD, str(replay)]
    if window_ms is not None:
        argv.append(str(window_ms))
    proc = subprocess.run(argv, env=sb.env, cwd=sb.cwd, capture_output=True, text=True,
                          check=False)  # fmt: skip
    if proc.returncode != 0:
        raise RuntimeError(f"memory child failed: {proc.stderr.strip()[-500:]}")
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def rss_at(d: dict, t_ms: int) -> int:
    """RSS of the memory child when the replay's clock reached t_ms."""
    samples = d["samples"]
    hit = next((s for s in samples if s[1] >= t_ms), samples[-1] if samples else None)
    return int(hit[2]) if hit else 0


def peak_memory(sb: Sandbox, replay: Path, hours: float, start_ms: int) -> tuple[list[Row], dict]:
    """Peak RSS after replaying the whole file, against the same process before it; and the
    child's data (for the eviction figure)."""
    d = memory_child(sb, replay)
    hour = 3_600_000
    by_hour = [f"{h} h {rss_at(d, start_ms + h * hour) / 1e6:.0f} MB"
               for h in (0, 1, 6, 12, 18, 24) if h <= hours]  # fmt: skip
    prints = sum(d["realized"].values())
    name = f"peak memory (VmHWM) after replaying {hours:g} h busy"
    per_print = ""
    if hours >= 6:  # past the first hour's start-up growth: what each held print costs
        grew = rss_at(d, start_ms + int(hours * hour)) - rss_at(d, start_ms + hour)
        per_print = f" (≈ {grew / max(prints, 1) * hours / (hours - 1):.0f} B per print)"
    return [
        Row(
            "app",
            name,
            [d["peak"]],
            "B",
            "same process before replaying",
            [d["before"]["peak"]],
            note=f"RSS by recorded hour: {', '.join(by_hour)}; model state "
            f"{d['state_bytes'] / 1e6:.1f} MB; {prints:,} realized prints held in the "
            f"24 h window{per_print}; "
            f"{d['lines']:,} lines in {d['wall']:.0f} s",
        ),
    ], d


def window_eviction(
    sb: Sandbox, replay: Path, hours: float, start_ms: int, full: dict, window_h: float = 6.0
) -> list[Row]:
    """RSS growth over the second half of the replay with a short realized window (so prints
    leave it) beside the same span with the default 24 h window (the `full` run): flat memory
    once the window is full is what a long live session needs."""
    d = memory_child(sb, replay, int(window_h * 3_600_000))
    a, b = start_ms + int(hours / 2 * 3_600_000), start_ms + int(hours * 3_600_000)
    short, default = rss_at(d, b) - rss_at(d, a), rss_at(full, b) - rss_at(full, a)
    prints = sum(d["realized"].values())
    return [
        Row("app", f"RSS growth, recorded h {hours / 2:g}→{hours:g}, {window_h:g} h window",
            [max(short, 0)], "B", "same span, default 24 h window", [default],
            invert=True, word="less",
            note=f"the {window_h:g} h window is full from hour {window_h:g}: prints leave it "
                 f"({prints:,} held at the end); peak {d['peak'] / 1e6:.0f} MB"),
    ]  # fmt: skip


def figures(
    *,
    quick: bool = False,
    runs: int | None = None,
    hours: float = 1.0,
    hours_memory: float | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> list[Row]:
    """Every app figure as table rows."""
    runs = runs or (3 if quick else 5)
    hours_memory = hours_memory or (hours if quick else 24.0)
    spec = BusyMarket(hours=hours)
    replay = recording(spec)
    rows: list[Row] = []
    with Sandbox() as sb:
        rows += first_frames(sb, replay, runs, log)
        log("first frames measured")
        rows += snapshot_wall(sb, replay, runs, hours)
        log("snapshot wall time measured")
        rows += replay_speed(replay, max(2, runs - 2), hours)
        log("replay speed measured")
        mem_spec = BusyMarket(hours=hours_memory)
        mem_file = recording(mem_spec)
        start_ms = int(metadata(mem_spec).get("start_ms", 0))  # type: ignore[call-overload]
        peak_rows, full = peak_memory(sb, mem_file, hours_memory, start_ms)
        rows += peak_rows
        log("peak memory measured")
        if not quick:
            rows += window_eviction(sb, mem_file, hours_memory, start_ms, full)
            log("window eviction measured")
    return rows


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="fewer runs; memory over the 1 h file")
    p.add_argument("--runs", type=int, help="runs per figure (5; --quick 3)")
    p.add_argument("--hours", type=float, default=1.0, help="recording for frames/snapshot (1)")
    p.add_argument("--hours-memory", type=float, help="recording for peak memory (24)")
    args = p.parse_args(argv)
    where = prefer_installed_liqtui()
    print(f"liqtui app benchmark — {machine()['date_utc']}")
    print(machine_text(machine()))
    print(f"liqtui from {where}\n", flush=True)
    rows = figures(quick=args.quick, runs=args.runs, hours=args.hours,
                   hours_memory=args.hours_memory,
                   log=lambda s: print(f"  … {s}", file=sys.stderr, flush=True))  # fmt: skip
    print(render_table(rows))


if __name__ == "__main__":
    main()
