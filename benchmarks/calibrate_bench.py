"""`liqtui calibrate` over six months of hourly bars: wall time of the command (target < 20 s).

    python benchmarks/calibrate_bench.py [--runs 3] [--data ../shared/data]

Two recordings, both made by `liqtui convert-bars` into /tmp/liqtui-bench (never the
repository):
- synthetic: 180 days of hourly bars (4,320) generated here with a fixed seed: a random walk of
  price (0.6% hourly), open interest around $7B and liquidation totals that grow with the bar's
  excursion — the size and shape of the development set, so the figure exists on any checkout;
- the development set (../shared/data/btc_1h_…, 4,312 bars, docs/model.md) when it is there
  (beside the checkout, or beside its parent for a git worktree; else --data).

Each is timed as `liqtui calibrate --replay FILE --symbol BTC --window 1h --format json` in a
child process (interpreter start included), beside `liqtui snapshot --replay FILE --format json`
on the same file: the bare replay through the engine, so the difference is what scoring costs.
The child runs the same liqtui this process imported (the installed one under
`python -m benchmarks`, the checkout when run as a script).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = Path(tempfile.gettempdir()) / "liqtui-bench"
DEV_DIR = "btc_1h_oi_liq_2025-12_2026-06_ismethanhtung"
TARGET_S = 20.0
HOUR_MS = 3_600_000
START_MS = 1_764_828_000_000  # 2025-12-04 06:00 UTC, where the development set starts
HEADER = (
    "timestamp,price_open,price_high,price_low,price_close,liquidation_long_usd,"
    "liquidation_short_usd,funding_close,oi_open,oi_close\n"
)


def synthetic_bars(path: Path, *, days: int = 180, seed: int = 0) -> int:
    """Write `days` of hourly bars (the development set's columns) to `path`; returns bars."""
    rng = np.random.default_rng(seed)
    n = days * 24
    ret = rng.normal(0.0, 0.006, n)
    close = 90_000.0 * np.exp(np.cumsum(ret))
    open_ = np.r_[90_000.0, close[:-1]]
    wiggle = np.abs(rng.normal(0.0, 0.003, (2, n)))
    high = np.maximum(open_, close) * (1 + wiggle[0])
    low = np.minimum(open_, close) * (1 - wiggle[1])
    oi = 7e9 * np.exp(np.cumsum(rng.normal(0.0, 0.004, n)))
    down, up = (open_ - low) / open_, (high - open_) / open_
    noise = rng.lognormal(0.0, 1.0, (2, n))
    long_usd = oi * 0.02 * down**1.5 * noise[0]
    short_usd = oi * 0.02 * up**1.5 * noise[1]
    funding = rng.normal(0.005, 0.003, n)
    with path.open("w") as fh:
        fh.write(HEADER)
        for i in range(n):
            fh.write(
                f"{START_MS + i * HOUR_MS},{open_[i]:.2f},{high[i]:.2f},{low[i]:.2f},"
                f"{close[i]:.2f},{long_usd[i]:.2f},{short_usd[i]:.2f},{funding[i]:.6f},"
                f"{oi[i - 1] if i else oi[0]:.0f},{oi[i]:.0f}\n"
            )
    return n


def _convert(csv_path: Path, out: Path) -> Path:
    from liqtui.commands.convert_bars import convert

    if not out.exists():
        convert(csv_path, out)
    return out


def _child_env() -> dict[str, str]:
    """The child imports the liqtui this process imported, with an empty config."""
    import liqtui

    env = dict(os.environ)
    for name in ("LIQTUI_CONFIG", "LIQTUI_DEBUG"):
        env.pop(name, None)
    env["PYTHONPATH"] = str(Path(liqtui.__file__).resolve().parent.parent)
    env["XDG_CONFIG_HOME"] = str(OUT / "config")
    (OUT / "config").mkdir(parents=True, exist_ok=True)
    return env


def _wall(argv: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(argv, env=env, cwd=OUT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 1):
        raise RuntimeError(f"{' '.join(argv[2:])}: exit {proc.returncode}: {proc.stderr.strip()}")
    return elapsed


def time_recording(recording: Path, runs: int) -> dict[str, list[float]]:
    env = _child_env()
    cal = [sys.executable, "-m", "liqtui", "calibrate", "--replay", str(recording),
           "--symbol", "BTC", "--window", "1h", "--format", "json"]  # fmt: skip
    snap = [sys.executable, "-m", "liqtui", "snapshot", "--replay", str(recording),
            "--symbol", "BTC", "--format", "json"]  # fmt: skip
    out: dict[str, list[float]] = {"calibrate": [], "replay": []}
    for _ in range(runs):  # interleaved: both see the same load
        out["calibrate"].append(_wall(cal, env))
        out["replay"].append(_wall(snap, env))
    return out


def measure(*, runs: int = 3, data: Path | None = None) -> dict[str, object]:
    OUT.mkdir(parents=True, exist_ok=True)
    csv_path = OUT / "bars_1h_180d_seed0.csv"
    if not csv_path.exists():
        synthetic_bars(csv_path)
    result: dict[str, object] = {
        "synthetic": time_recording(_convert(csv_path, OUT / "bars_1h_180d_seed0.jsonl.gz"), runs)
    }
    candidates = (
        [data] if data else [ROOT.parent / "shared" / "data", ROOT.parents[1] / "shared" / "data"]
    )
    dev = next((c / DEV_DIR for c in candidates if (c / DEV_DIR).is_dir()), Path(DEV_DIR))
    dev_csv = next(iter(sorted(dev.glob("*.csv"))), None) if dev.is_dir() else None
    if dev_csv is not None:
        result["development"] = time_recording(_convert(dev_csv, OUT / "dev_1h.jsonl.gz"), runs)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", type=Path, help="the shared data folder (../shared/data)")
    args = ap.parse_args()
    res = measure(runs=args.runs, data=args.data)
    for name, t in res.items():
        assert isinstance(t, dict)
        cal, rep = statistics.median(t["calibrate"]), statistics.median(t["replay"])
        verdict = "ok" if cal < TARGET_S else "OVER"
        print(
            f"{name}: calibrate {cal:.2f} s (runs {', '.join(f'{x:.2f}' for x in t['calibrate'])};"
            f" target < {TARGET_S:g} s: {verdict}); bare replay (snapshot) {rep:.2f} s; "
            f"scoring adds {cal - rep:+.2f} s"
        )
    return 0 if all(statistics.median(t["calibrate"]) < TARGET_S for t in res.values()) else 1  # type: ignore[index]


if __name__ == "__main__":
    sys.exit(main())
