"""Replay seeks in the app: how long a seek takes and how responsive the UI stays meanwhile.

    python benchmarks/seek_bench.py [--hours 2]

Replays the busy-market recording (benchmarks/busy_market.py) in the app (160×50, headless
Pilot, paused), seeks forward an hour, then back a minute and back an hour (each back seek
rebuilds from the recording's start), and prints per seek: the wall time until the replay
stood at the target, and the UI's worst and median tick lateness meanwhile (a 50 ms timer:
how late its callbacks ran, i.e. how long a key or a frame would wait).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

from benchmarks.busy_market import BusyMarket, recording
from liqtui.feeds.replay import ReplaySource
from liqtui.model.engine import Engine
from liqtui.playback import HOUR_MS, MINUTE_MS
from liqtui.ui.app import LiqApp

TICK_S = 0.05


async def bench(path: Path) -> None:
    source = ReplaySource(path, speed=None)  # max: get to the end quickly
    source.playback.hold_at_end = True
    app = LiqApp(Engine(), source, watchlist=["BTC", "ETH", "SOL"])
    late: list[float] = []
    last = [time.monotonic()]

    def tick() -> None:
        now = time.monotonic()
        late.append(now - last[0] - TICK_S)
        last[0] = now

    async with app.run_test(size=(160, 50)) as pilot:
        pb = source.playback
        app.set_interval(TICK_S, tick)
        t0 = time.monotonic()
        while not pb.finished:
            await pilot.pause(0.05)
        print(
            f"replayed {(pb.end_ms - pb.start_ms) / HOUR_MS:.2f} h to the end in "  # type: ignore[operator]
            f"{time.monotonic() - t0:.1f} s (max speed, UI running)"
        )
        pb.speed = 1.0
        pb.seek(-2 * HOUR_MS + 10 * MINUTE_MS)  # back near the start, then time the seeks
        while pb.seeking or pb.seek_target_ms is not None or pb.finished:
            await pilot.pause(0.05)
        pb.paused = True
        for name, delta in (
            ("forward 1 h", HOUR_MS),
            ("back 1 min", -MINUTE_MS),
            ("back 1 h", -HOUR_MS),
            ("forward 1 min", MINUTE_MS),
        ):
            await pilot.pause(0.3)
            late.clear()
            last[0] = time.monotonic()
            start = time.monotonic()
            target = pb.seek(delta)
            await pilot.pause(0)
            while pb.seeking or pb.seek_target_ms is not None or pb.position_ms != target:
                await pilot.pause(0.01)
            took = time.monotonic() - start
            worst = max(late, default=0.0) * 1000
            median = statistics.median(late) * 1000 if late else 0.0
            print(
                f"seek {name:13s}: {took:6.2f} s to stand at the target; UI tick late "
                f"worst {worst:5.0f} ms, median {median:4.0f} ms ({len(late)} ticks)"
            )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--hours", type=float, default=2.0)
    args = ap.parse_args()
    path = recording(BusyMarket(hours=args.hours), quiet=True)
    asyncio.run(bench(path))


if __name__ == "__main__":
    main()
