"""Soak: at least an hour of a busy market through the full app, at 10× real time, in a 160×50
pseudo-terminal; memory must stay flat and CPU steady. Not part of CI (it takes ≥ 6 minutes).

    python benchmarks/soak.py                       # 1 h at 10×: 6 minutes of wall time
    python benchmarks/soak.py --hours 2 --speed 10  # 12 minutes
    python benchmarks/soak.py --json soak.json      # also write every sample

It runs `liqtui --replay FILE --speed 10` (FILE: benchmarks/busy_market.py, BTC/ETH/SOL on
Binance, Bybit and OKX with a cascade every 10 minutes besides the simulator's own) and samples
the process's RSS, CPU time and the bytes it wrote to the terminal every few seconds from /proc.
The steady window starts 30 s after the first frame with data and ends when every feed shows
"finished" (or at the planned end). Printed: RSS at the start, middle and end of the window, the
least-squares slope in MB per minute of wall time (and per recorded hour), CPU per minute (mean,
stdev, first and last minute), terminal bytes per second, whether the replay kept up with the
requested speed, and a verdict.

Verdict: memory is flat when the slope over the second half of the window is below
--max-slope MB/min (default 0.5, i.e. 3 MB per recorded hour at 10×: what the 24 h realized
window legitimately adds while it fills with a busy market's prints is about 1–2 MB per recorded
hour); CPU is steady when the per-minute CPU's coefficient of variation is below 0.25 and the mean
of the last third of the minutes is within 1.25× of the first third's.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from collections.abc import Sequence
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make `benchmarks` importable (after site-packages)
    sys.path.append(str(Path(__file__).resolve().parent.parent))

from benchmarks import machine, machine_text, prefer_installed_liqtui
from benchmarks.app_bench import DATA, FRAME, Sandbox, run_pty
from benchmarks.busy_market import BusyMarket, metadata, recording

FINISHED = b"finished"
WARMUP_S = 30.0


def slope(points: Sequence[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    if len(points) < 2:
        return 0.0
    mx = statistics.fmean(x for x, _ in points)
    my = statistics.fmean(y for _, y in points)
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else 0.0


def summarize(
    samples: list[tuple[float, float, int, int]],
    *,
    t_start: float,
    t_end: float,
    speed: float,
    max_slope: float,
) -> dict[str, object]:
    window = [s for s in samples if t_start <= s[0] <= t_end]
    if len(window) < 4:
        raise RuntimeError(f"only {len(window)} samples in the steady window")
    t0 = window[0][0]
    rss = [(t - t0, r / 1e6) for t, _, r, _ in window]
    mid = window[len(window) // 2]
    half = [p for p in rss if p[0] >= rss[-1][0] / 2]
    per_min: list[tuple[float, float, float]] = []  # (minute start, CPU %, bytes/s)
    i = 0
    while True:
        a = window[i]
        j = next((k for k in range(i, len(window)) if window[k][0] >= a[0] + 60.0), None)
        if j is None:
            break
        b = window[j]
        dt = b[0] - a[0]
        per_min.append((a[0] - t0, 100.0 * (b[1] - a[1]) / dt, (b[3] - a[3]) / dt))
        i = j
    cpu = [c for _, c, _ in per_min]
    slope_all = slope(rss) * 60.0
    slope_half = slope(half) * 60.0
    cpu_mean = statistics.fmean(cpu) if cpu else float("nan")
    cpu_sd = statistics.stdev(cpu) if len(cpu) > 1 else 0.0
    third = max(1, len(cpu) // 3)
    drift = statistics.fmean(cpu[-third:]) / statistics.fmean(cpu[:third]) if cpu else 1.0
    flat = slope_half <= max_slope
    steady = bool(cpu) and cpu_sd / cpu_mean < 0.25 and drift <= 1.25
    return {
        "window_s": [round(t_start, 1), round(t_end, 1)],
        "rss_mb": {
            "start": rss[0][1],
            "middle": mid[2] / 1e6,
            "end": rss[-1][1],
            "max": max(r for _, r in rss),
        },
        "slope_mb_per_min": slope_all,
        "slope_second_half_mb_per_min": slope_half,
        "slope_mb_per_recorded_hour": slope_all * 60.0 / speed,
        "cpu_pct_per_min": cpu,
        "cpu_pct_mean": cpu_mean,
        "cpu_pct_stdev": cpu_sd,
        "cpu_last_third_over_first": drift,
        "cpu_trend_pct_per_min": slope([(t / 60.0, c) for t, c, _ in per_min]),
        "bytes_per_s_per_min": [b for _, _, b in per_min],
        "memory_flat": flat,
        "cpu_steady": steady,
    }


def soak(
    *,
    hours: float = 1.0,
    speed: float = 10.0,
    sample_every_s: float = 5.0,
    max_slope: float = 0.5,
    fps: float | None = None,
    window: str | None = None,
    progress: bool = True,
) -> dict[str, object]:
    """Run the soak; returns the summary, the samples and the markers' times as data."""
    spec = BusyMarket(hours=hours)
    replay = recording(spec)
    meta = metadata(spec)
    planned = hours * 3600.0 / speed
    extra = ["--fps", f"{fps:g}"] if fps else []
    if window:
        extra += ["--window", window]
    with Sandbox() as sb:
        argv = sb.liqtui("--replay", str(replay), "--speed", f"{speed:g}", *extra)
        last = [0.0]

        def show(sample: tuple[float, float, int, int]) -> None:
            t, cpu, rss, out = sample
            if progress and t - last[0] >= 30.0:
                last[0] = t
                print(f"  {t:6.0f} s  RSS {rss / 1e6:6.1f} MB  CPU {cpu:7.1f} s  "
                      f"{out / 1e6:7.1f} MB written", file=sys.stderr, flush=True)  # fmt: skip

        result = run_pty(
            argv, env=sb.env, cwd=sb.cwd,
            markers={"frame": FRAME, "data": DATA, "finished": FINISHED},
            timeout_s=planned + 20.0, sample_every_s=sample_every_s, on_sample=show,
        )  # fmt: skip
    if "data" not in result.marks:
        raise RuntimeError(f"no frame with data within {planned + 20:.0f} s")
    t_start = result.marks["data"] + WARMUP_S
    t_finish = result.marks.get("finished")
    t_end = t_finish if t_finish is not None else result.wall_s
    summary = summarize(result.samples, t_start=t_start, t_end=t_end, speed=speed,
                        max_slope=max_slope)  # fmt: skip
    lag = (t_finish - result.marks["data"]) / planned if t_finish else None
    return {
        "recording": str(replay),
        "recording_meta": meta,
        "hours": hours,
        "speed": speed,
        "window": window or "default (24h)",
        "planned_s": planned,
        "marks": result.marks,
        "wall_s": result.wall_s,
        "cpu_s": result.cpu_s,
        "bytes_out": result.bytes_out,
        "kept_up": lag is not None and lag <= 1.05,
        "replay_wall_over_planned": lag,
        "samples": result.samples,
        "summary": summary,
    }


def report(d: dict[str, object]) -> str:
    s: dict = d["summary"]  # type: ignore[assignment]
    meta: dict = d["recording_meta"]  # type: ignore[assignment]
    marks: dict = d["marks"]  # type: ignore[assignment]
    cpu: list[float] = s["cpu_pct_per_min"]
    rss = s["rss_mb"]
    lag = d["replay_wall_over_planned"]
    if d["kept_up"]:
        kept = f"yes: replay finished {lag:.3f}× the planned time after the first frame"
    elif lag is None:
        kept = "NO (not finished)"
    else:
        kept = f"NO ({lag:.2f}× the planned time)"
    bps = s["bytes_per_s_per_min"]
    lines = [
        f"recording: {d['recording']}",
        f"  {d['hours']:g} h, {meta.get('lines', 0):,} lines, "
        f"{meta.get('liquidations', 0):,} liquidation prints, {meta.get('cascades', 0)} extra "
        f"cascades; replayed at {d['speed']:g}× (planned {d['planned_s']:.0f} s), realized "
        f"window {d['window']}",
        f"first frame {marks.get('frame', float('nan')):.2f} s, first data "
        f"{marks.get('data', float('nan')):.2f} s, all feeds finished "
        f"{marks.get('finished', float('nan')):.1f} s; kept up: {kept}",
        f"steady window {s['window_s'][0]:.0f}–{s['window_s'][1]:.0f} s ({len(cpu)} full minutes)",
        f"RSS start {rss['start']:.1f} MB, middle {rss['middle']:.1f} MB, end {rss['end']:.1f} MB "
        f"(max {rss['max']:.1f} MB)",
        f"RSS slope {s['slope_mb_per_min']:+.3f} MB/min "
        f"({s['slope_mb_per_recorded_hour']:+.2f} MB per recorded hour); second half "
        f"{s['slope_second_half_mb_per_min']:+.3f} MB/min",
        f"CPU per minute: mean {s['cpu_pct_mean']:.1f}% of a core, stdev "
        f"{s['cpu_pct_stdev']:.1f}; last third {s['cpu_last_third_over_first']:.2f}× the first; "
        f"trend {s['cpu_trend_pct_per_min'] * 60 / d['speed']:+.1f} points per recorded hour  "
        f"[{' '.join(f'{c:.0f}' for c in cpu)}]",
        f"terminal output: {statistics.fmean(bps) / 1e3:.1f} kB/s mean "
        f"(per minute {min(bps) / 1e3:.1f}–{max(bps) / 1e3:.1f} kB/s)",
        f"verdict: memory {'FLAT' if s['memory_flat'] else 'GROWING'}, "
        f"CPU {'STEADY' if s['cpu_steady'] else 'UNSTEADY'}, "
        f"replay {'kept up' if d['kept_up'] else 'FELL BEHIND'}",
    ]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--hours", type=float, default=1.0, help="recorded hours (1)")
    p.add_argument("--speed", type=float, default=10.0, help="× real time (10)")
    p.add_argument("--sample", type=float, default=5.0, help="seconds between samples (5)")
    p.add_argument("--max-slope", type=float, default=0.5, help="MB/min (0.5)")
    p.add_argument("--fps", type=float, help="the app's redraw rate (its default: 4)")
    p.add_argument("--window", help="the app's realized window, e.g. 6h (its default: 24h)")
    p.add_argument("--json", type=Path, help="write the samples and the summary here")
    args = p.parse_args(argv)
    where = prefer_installed_liqtui()
    m = machine()
    print(f"liqtui soak — {m['date_utc']}")
    print(machine_text(m))
    print(f"liqtui from {where}", flush=True)
    d = soak(hours=args.hours, speed=args.speed, sample_every_s=args.sample,
             max_slope=args.max_slope, fps=args.fps, window=args.window)  # fmt: skip
    print(report(d))
    if args.json:
        args.json.write_text(json.dumps({"machine": m, **d}, indent=1) + "\n")
    s: dict = d["summary"]  # type: ignore[assignment]
    sys.exit(0 if s["memory_flat"] and s["cpu_steady"] and d["kept_up"] else 1)


if __name__ == "__main__":
    main()
