"""TUI benchmark: CPU and terminal bytes/s of the real app in a pseudo-terminal (tui.md App. A).

    python benchmarks/tui_bench.py [--seconds 10] [--warmup 3] [--fps 4] [--size 160x50]
                                   [--view ladder|map|heatmap|tape|overview] [--cursor]
                                   [--modes quiet,burst] [--watchlist BTC,ETH,...]

Each scenario runs the liqtui app in a child process on a pty of the given size (TERM
xterm-256color, COLORTERM truecolor), the parent counting every byte the app writes. The child
measures its own CPU time (process_time) over the measuring window, after a warm-up, and exits.

Scenarios (the ladder view, or the one `--view` names; default redraw rate 4 fps, an engine
warmed with 3 h of the demo simulator so the view is full):
- quiet: marks every 250 ms with small moves, a liquidation every 2 s;
- burst: a cascade: price falls 0.2% a second with ~40 liquidations a second across levels;
and each of them again with the view forced to a whole-widget refresh every frame (what a
`Static`-style redraw costs), in the same run. `--view heatmap` measures the time × price view
(its UI history filled by the same 3 h), `--cursor` with its cursor on (a cell two rows above the
price, three columns back: the readout line is redrawn too). Bytes are counted from the moment
the child starts measuring (it marks it in a file) to its report, so its start-up never counts.
The ratios at the end are what matter (tui.md: absolute numbers depend on the machine).
`--watchlist` warms every market in it with the demo (and gives each a visible book, so the
overview computes R_X for each): the overview draws them all. Not a test: nothing here is timed
by pytest.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import math
import os
import pty
import select
import struct
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


# -- child ----------------------------------------------------------------------------------------


class BenchSource:
    """Live-like ticks on top of a warmed engine: quiet or a cascade burst."""

    name = "bench"

    def __init__(self, mode: str, start_ms: int, price: float) -> None:
        self.mode = mode
        self.t = start_ms
        self.price = price
        self.live_from_ms = start_ms  # its ticks are the present (the app's start)

    async def run(self, sink) -> None:  # type: ignore[no-untyped-def]
        from liqtui.events import Liquidation, MarkPrice

        health = sink.feed("bench")
        health.state = "connected"
        i = 0
        while True:
            i += 1
            self.t += 250
            if self.mode == "burst":
                self.price *= 1 - 0.0005  # -0.2%/s
                for k in range(10):  # ~40 prints a second, spread over the levels crossed
                    px = self.price * (1 + 0.002 * (k - 5) / 5)
                    qty = 0.5 + (i * 7 + k * 13) % 17
                    sink.apply(Liquidation("bench", "BTC", self.t, "long", px, qty, px * qty))
            else:
                self.price *= 1 + 0.00005 * math.sin(i / 7)
                if i % 8 == 0:
                    sink.apply(
                        Liquidation(
                            "bench", "BTC", self.t, "short", self.price, 0.2, self.price * 0.2
                        )
                    )
            sink.apply(MarkPrice("bench", "BTC", self.t, self.price))
            sink.advance(self.t)
            health.last_event_ms = self.t
            health.messages += 1
            await asyncio.sleep(0.25)


# Views the benchmark can drive: the ladder, the map, the tape and the overview redraw
# through `_update(full=...)`, the time × price view through `_draw(..., full=...)`.
BENCH_VIEWS = ("ladder", "map", "heatmap", "tape", "overview")


def child(
    mode: str,
    full: bool,
    fps: float,
    warmup: float,
    seconds: float,
    report: str,
    view: str,
    cursor: bool = False,
    watchlist: tuple[str, ...] = ("BTC",),
) -> None:
    os.environ["TERM"] = "xterm-256color"
    os.environ["COLORTERM"] = "truecolor"
    if importlib.util.find_spec("liqtui") is None:  # not installed: the checkout's
        sys.path.insert(0, str(ROOT))
    from liqtui.demo import DemoSource
    from liqtui.model.engine import Engine
    from liqtui.ui.app import LiqApp
    from liqtui.ui.history import History, HistorySink
    from liqtui.ui.widgets.heatmap import HeatmapWidget
    from liqtui.ui.widgets.ladder import LadderWidget
    from liqtui.ui.widgets.liqmap import LiqMapWidget
    from liqtui.ui.widgets.overview import OverviewTable
    from liqtui.ui.widgets.tape import TapeWidget

    widget_class = {
        "ladder": LadderWidget,
        "map": LiqMapWidget,
        "heatmap": HeatmapWidget,
        "tape": TapeWidget,
        "overview": OverviewTable,
    }[view]
    engine = Engine()
    history = History(period_ms=engine.params.step_ms)
    markets = list(dict.fromkeys(["BTC", *watchlist]))
    sink = HistorySink(engine, history, lambda: markets)
    DemoSource(markets, seed=3, warmup_ms=3 * 3600 * 1000, start_ms=1_767_225_600_000).run_sync(
        sink
    )
    if len(markets) > 1:
        from liqtui.events import BookDepth

        for symbol in markets:  # a fresh visible book: the overview's R_X is computed for each
            p = engine.snapshot(symbol).price or 1.0
            engine.apply(
                BookDepth("binance", symbol, engine.clock_ms, p, (0.001, 0.002, 0.005),
                          (2e7, 4.4e7, 1.1e8), (2e7, 4.2e7, 1e8), 0.005, 0.005)
            )  # fmt: skip
    price = engine.snapshot("BTC").price or 95_000.0
    if full and view == "heatmap":  # the comparison: every frame repaints the whole map
        original_draw = HeatmapWidget._draw

        def whole_map(self, snap, columns, *, full: bool) -> None:  # type: ignore[no-untyped-def]
            original_draw(self, snap, columns, full=True)

        HeatmapWidget._draw = whole_map  # type: ignore[method-assign]
    elif full:  # the comparison: every frame repaints the whole view
        original = widget_class._update

        def whole(self, *, full: bool = False) -> None:  # type: ignore[no-untyped-def]
            original(self, full=True)

        widget_class._update = whole  # type: ignore[method-assign]

    source = BenchSource(mode, engine.clock_ms, price)
    app = LiqApp(engine, source, watchlist=markets, fps=fps, history=history, view=view)
    marks: dict[str, float] = {}

    def start() -> None:
        marks["cpu0"], marks["wall0"] = time.process_time(), time.perf_counter()
        Path(report + ".start").write_text("")  # the parent counts bytes from here

    def stop() -> None:
        cpu = time.process_time() - marks["cpu0"]
        wall = time.perf_counter() - marks["wall0"]
        widget = app.query_one(widget_class)
        counts = (
            {"updates": widget.updates, "dirty_cells": widget.total_dirty_cells}
            if isinstance(widget, HeatmapWidget)
            else {"updates": widget.updates, "dirty_rows": widget.total_dirty_rows}
        )
        if isinstance(widget, OverviewTable):
            counts["rows_computed"] = widget.computed
        Path(report).write_text(
            json.dumps({"cpu": cpu, "wall": wall, **counts, "events": engine.events_applied})
        )
        app.exit()

    def on_ready() -> None:
        app.set_timer(warmup, start)
        app.set_timer(warmup + seconds, stop)
        if cursor:  # two rows above the price, three periods back
            for action in ("cursor(1)", "cursor(1)", *("cursor_time(-1)",) * 3):
                app.call_later(app.run_action, action)

    app.call_later(on_ready)
    app.run()


# -- parent ---------------------------------------------------------------------------------------


def run_one(mode: str, full: bool, args: argparse.Namespace) -> dict[str, float]:
    cols, rows = args.size
    report = tempfile.mktemp(prefix="liqtui-bench-", suffix=".json")
    pid, fd = pty.fork()
    if pid == 0:  # child
        try:
            child(mode, full, args.fps, args.warmup, args.seconds, report, args.view, args.cursor,
                  getattr(args, "watchlist", ("BTC",)))  # fmt: skip
        finally:
            os._exit(0)
    import fcntl
    import termios

    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    t0 = time.perf_counter()
    counted = total = 0
    start_at: float | None = None  # when the child started measuring (its marker file)
    end_at: float | None = None
    started = report + ".start"
    while True:
        r, _, _ = select.select([fd], [], [], 0.5)
        if r:
            try:
                data = os.read(fd, 65536)
            except OSError:
                break
            if not data:
                break
            total += len(data)
            if os.path.exists(report) and end_at is None:
                end_at = time.perf_counter()
            if start_at is None and os.path.exists(started):
                start_at = time.perf_counter()
            elif start_at is not None and end_at is None:
                counted += len(data)
        elif os.path.exists(report) and end_at is None:
            end_at = time.perf_counter()
        if start_at is None and os.path.exists(started):
            start_at = time.perf_counter()
        if time.perf_counter() - t0 > args.warmup + args.seconds + 60:
            break
    os.waitpid(pid, 0)
    os.close(fd)
    result = json.loads(Path(report).read_text())
    os.unlink(report)
    if os.path.exists(started):
        os.unlink(started)
    window = (end_at or time.perf_counter()) - (start_at or t0)
    result["bytes_per_s"] = counted / max(window, 1e-9)
    result["cpu_pct"] = 100.0 * result["cpu"] / result["wall"]
    result["total_bytes"] = total
    return result


SCENARIOS = ("quiet", "quiet whole-widget", "burst", "burst whole-widget")


def measure(
    *,
    seconds: float = 10.0,
    warmup: float = 3.0,
    fps: float = 4.0,
    size: tuple[int, int] = (160, 50),
    progress: bool = False,
    view: str = "ladder",
    cursor: bool = False,
    modes: tuple[str, ...] = ("quiet", "burst"),
    watchlist: tuple[str, ...] = ("BTC",),
) -> dict[str, dict[str, float]]:
    """Every scenario as data: {"quiet", "quiet whole-widget", "burst", "burst whole-widget":
    {cpu_pct, bytes_per_s, cpu, wall, updates, dirty_rows (heatmap: dirty_cells), events,
    total_bytes}}."""
    args = argparse.Namespace(
        seconds=seconds, warmup=warmup, fps=fps, size=size, view=view, cursor=cursor,
        watchlist=watchlist,
    )  # fmt: skip
    results: dict[str, dict[str, float]] = {}
    for mode in modes:
        for full in (False, True):
            name = f"{mode}{' whole-widget' if full else ''}"
            results[name] = r = run_one(mode, full, args)
            if progress:
                repainted = (
                    f"cells repainted {r['dirty_cells']}"
                    if view == "heatmap"
                    else f"rows repainted {r['dirty_rows']}"
                )
                if r.get("rows_computed"):
                    repainted += f", rows computed {r['rows_computed']}"
                print(
                    f"{name:<20} CPU {r['cpu_pct']:5.1f}% of one core   "
                    f"{r['bytes_per_s'] / 1000:7.1f} KB/s   {view} updates {r['updates']}, "
                    f"{repainted}",
                    flush=True,
                )
    return results


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--fps", type=float, default=4.0)
    p.add_argument("--size", type=lambda s: tuple(int(x) for x in s.split("x")), default=(160, 50))
    p.add_argument("--view", choices=BENCH_VIEWS, default="ladder", help="the view measured")
    p.add_argument("--cursor", action="store_true", help="the view's cursor on (heatmap)")
    p.add_argument(
        "--modes",
        type=lambda s: tuple(m for m in s.split(",") if m),
        default=("quiet", "burst"),
        help="scenarios, comma-separated: quiet, burst (each also as whole-widget)",
    )
    p.add_argument(
        "--watchlist",
        type=lambda s: tuple(x.strip().upper() for x in s.split(",") if x.strip()),
        default=("BTC",),
        help="markets warmed with the demo and watched, comma-separated (default BTC)",
    )
    args = p.parse_args()
    if not set(args.modes) <= {"quiet", "burst"}:
        p.error("--modes: quiet and/or burst")
    results = measure(
        seconds=args.seconds,
        warmup=args.warmup,
        fps=args.fps,
        size=args.size,
        progress=True,
        view=args.view,
        cursor=args.cursor,
        modes=args.modes,
        watchlist=args.watchlist,
    )
    for mode in args.modes:
        line, whole = results[mode], results[f"{mode} whole-widget"]
        ratio = whole["bytes_per_s"] / max(line["bytes_per_s"], 1e-9)
        cpu = whole["cpu_pct"] / max(line["cpu_pct"], 1e-9)
        print(f"{mode}: whole-widget refresh sends {ratio:.1f}x the bytes, {cpu:.1f}x the CPU")
    cols, rows = args.size
    print(
        f"({args.view} view, {len(args.watchlist)} markets, {cols}x{rows}, {args.fps:g} fps, "
        f"{args.seconds:g} s measured after {args.warmup:g} s)"
    )


if __name__ == "__main__":
    main()
