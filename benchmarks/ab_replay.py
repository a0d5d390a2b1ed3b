"""Interleaved A/B of replay speed (issue 14): two liqtui trees on one recording, each round in a
fresh process per tree; CPU and wall seconds of the stdlib read floor (gzip + json.loads) and of
ReplaySource.run_sync into an engine from the shipped defaults. CPU time is steadier than wall
time on a shared machine.

    git archive main liqtui config.toml themes | tar -x -C /tmp/base
    python benchmarks/ab_replay.py FILE --base /tmp/base --new . [--rounds 3] [--hours 1]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

CHILD = r"""
import gzip, json, os, sys, tempfile, time
sys.path.insert(0, sys.argv[1])
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp()
import liqtui
assert liqtui.__file__.startswith(sys.argv[1]), liqtui.__file__
from liqtui.config import load_settings
from liqtui.feeds.replay import ReplaySource
from liqtui.model.engine import engine_from_settings

def clocks():
    return time.process_time(), time.perf_counter()

c0, w0 = clocks()
with gzip.open(sys.argv[2], "rb") as fh:
    for raw in fh:
        json.loads(raw)
c1, w1 = clocks()
engine = engine_from_settings(load_settings(None))
c2, w2 = clocks()
ReplaySource(sys.argv[2], speed=None).run_sync(engine)
c3, w3 = clocks()
print(json.dumps({"floor_cpu": c1 - c0, "floor_wall": w1 - w0,
                  "replay_cpu": c3 - c2, "replay_wall": w3 - w2}))
"""


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("file", type=Path)
    p.add_argument("--base", required=True, help="a tree holding liqtui/, config.toml, themes/")
    p.add_argument("--new", default=".", help="the other tree (this checkout)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--hours", type=float, default=1.0, help="recorded hours in the file")
    args = p.parse_args()
    trees = {"base": str(Path(args.base).resolve()), "new": str(Path(args.new).resolve())}
    runs: dict[str, list[dict[str, float]]] = {k: [] for k in trees}
    for r in range(args.rounds):
        for name, tree in trees.items():
            out = subprocess.run([sys.executable, "-c", CHILD, tree, str(args.file)],
                                 capture_output=True, text=True, check=True)  # fmt: skip
            runs[name].append(json.loads(out.stdout))
            print(r, name, {k: round(v, 3) for k, v in runs[name][-1].items()}, flush=True)
    for name, rs in runs.items():
        cpu = statistics.median(d["replay_cpu"] for d in rs)
        wall = statistics.median(d["replay_wall"] for d in rs)
        floor = statistics.median(d["floor_cpu"] for d in rs)
        ratio = [d["floor_cpu"] / d["replay_cpu"] for d in rs]
        print(f"{name}: replay CPU {cpu:.3f} s ({args.hours / cpu:.2f} h/s), wall {wall:.3f} s; "
              f"floor CPU {floor:.3f} s; replay speed / floor speed (CPU) "
              f"{statistics.median(ratio):.3f} ({min(ratio):.3f}-{max(ratio):.3f})")  # fmt: skip


if __name__ == "__main__":
    main()
