"""Every liqtui benchmark in one invocation, one table:

    python -m benchmarks                       # from the repository root (~7 minutes)
    python -m benchmarks --quick               # fewer and shorter runs (~3 minutes)
    python -m benchmarks --only model,feed     # sections: model, feed, tui, app, calibrate
    python -m benchmarks --json results.json   # also write every run's figures

Sections (each figure beside a peer measured in the same invocation, so ratios stay comparable
on a noisy machine):
- model: step time for 1 and for 150 symbol-exchanges, realized ingest (model_bench.py);
- feed: liquidation messages parsed, normalized and applied per second, per exchange, in
  process and end to end over loopback beside ccxt.pro's watch_liquidations on the same
  stream, with the prints each received and lost (feed_bench.py);
- tui: CPU and terminal bytes per second of the app in a 160×50 pseudo-terminal, quiet and in
  a cascade burst, beside a whole-widget refresh of the same view (tui_bench.py);
- app: start → first frame, `liqtui snapshot` wall time, replay speed, peak memory after 24 h
  of a busy market (app_bench.py);
- calibrate: `liqtui calibrate --window 1h` over 180 days of hourly bars (synthetic, and the
  shared development set when ../shared/data holds it), beside a bare replay of the same
  recording; target < 20 s (calibrate_bench.py);
- soak (only when asked: ≥ 6 minutes): an hour of the busy market at 10× through the app
  (soak.py);
- history (only when asked: about 2 minutes, 1 with --quick): warm start from a store of 7
  days × 3 markets × 3 exchanges beside a bare SQLite read and a direct Engine replay of the
  same rows (warm_start.py), and a cold 7-day backfill against the loopback fakes beside the
  budget floor and an unlimited budget (backfill_bench.py).

liqtui is imported from the installed package (`pip install .`),
tests/support/fake_exchanges.py from the checkout. The busy-market recordings are generated once
into /tmp/liqtui-bench (the 24 h one takes a while the first time) and reused.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import Row, machine, machine_text, prefer_installed_liqtui, render_table

SECTIONS = ("model", "feed", "tui", "app", "calibrate")
OPTIONAL = ("soak", "history")


def log(text: str) -> None:
    print(f"  … {text}", file=sys.stderr, flush=True)


# -- model ------------------------------------------------------------------------------------
def model_rows(quick: bool, raw: dict[str, object]) -> list[Row]:
    from benchmarks import model_bench

    runs = [model_bench.measure(quick=True) for _ in range(2 if quick else 3)]
    raw["model"] = runs
    col: Callable[[str], list[float]] = lambda k: [float(r[k]) for r in runs]  # noqa: E731
    one, many = col("step_1"), col("step_150")
    n_bins, n_tiers = int(runs[0]["n_bins"]), int(runs[0]["n_tiers"])
    return [
        Row("model", "model step, 1 symbol × 1 exchange (2 events incl.)", one, "s",
            "pure-Python per-bin loop, decay + consume only", col("python_loop_step"),
            invert=True, word="faster",
            note=f"grid {n_bins} bins × {n_tiers} tiers (BTC-like defaults); levels created, "
                 "consumed and decayed every step"),
        Row("model", "model step, 150 symbol-exchanges (50 × 3, 300 events)", many, "s",
            "150 × the 1-symbol step", [150 * x for x in one], invert=True, word="faster"),
        Row("model", "realized ingest (Engine.apply of Liquidation)", col("ingest_per_s"),
            "prints/s"),
        Row("model", "state per symbol-exchange (50 × 3, with 24 h of H)",
            col("state_per_symbol_exchange_bytes"), "B", "market with 1 exchange",
            col("state_1_bytes"), invert=True, word="less"),
    ]  # fmt: skip


# -- feed -------------------------------------------------------------------------------------
def feed_rows(quick: bool, raw: dict[str, object]) -> list[Row]:
    from benchmarks import feed_bench

    sizes = {"binance": 10_000, "bybit": 2_000} if quick else {"binance": 50_000, "bybit": 10_000}
    items = 10
    data = feed_bench.measure(binance=sizes["binance"], bybit=sizes["bybit"], items=items,
                              repeat=2 if quick else 3)  # fmt: skip
    raw["feed"] = {k: v for k, v in data.items() if k != "results"}
    rows: list[Row] = []
    for ex, title in (("binance", "Binance"), ("bybit", "Bybit ×10")):
        table: dict[str, list[dict[str, float]]] = data[ex]  # type: ignore[assignment]

        def pick(prefix: str, key: str, table: dict = table) -> list[float]:
            name = next(n for n in table if n.startswith(prefix))
            return [float(r[key]) for r in table[name]]

        def span(prefix: str, key: str, table: dict = table) -> str:
            v = [int(x) for x in pick(prefix, key, table)]
            return f"{min(v):,}" if min(v) == max(v) else f"{min(v):,}–{max(v):,}"

        sent = int(pick("liqtui StreamClient", "events_sent")[0])
        n_msgs = sizes[ex]
        per_msg = items if ex == "bybit" else 1
        stream = "allLiquidation" if ex == "bybit" else "!forceOrder@arr"
        lost = (f"of {sent:,} prints sent: liqtui received "
                f"{span('liqtui StreamClient', 'events_received')} (lost "
                f"{span('liqtui StreamClient', 'lost')}); ccxt default received "
                f"{span('ccxt.pro watch_liquidations', 'events_received')} (lost "
                f"{span('ccxt.pro watch_liquidations', 'lost')}); ccxt newUpdates=False + dedupe "
                f"received {span('ccxt.pro newUpdates', 'events_received')} (lost "
                f"{span('ccxt.pro newUpdates', 'lost')})")  # fmt: skip
        e2e = pick("liqtui StreamClient", "delivered_rate")
        rows += [
            Row("feed", f"{title}: in process, parse+normalize+apply",
                pick("liqtui in process", "rate"), "msgs/s",
                note=f"{n_msgs:,} {stream} messages, {per_msg} print(s) each; decode + parser "
                     "+ Engine.apply, no socket"),
            Row("feed", f"{title}: end to end (loopback WS), msgs",
                pick("liqtui StreamClient", "rate"), "msgs/s",
                "ccxt.pro watch_liquidations (default loop)",
                pick("ccxt.pro watch_liquidations", "rate")),
            Row("feed", f"{title}: end to end, prints delivered", e2e, "prints/s",
                "ccxt.pro watch_liquidations (default loop)",
                pick("ccxt.pro watch_liquidations", "delivered_rate"), note=lost),
            Row("feed", f"{title}: end to end, prints delivered", e2e, "prints/s",
                "ccxt.pro newUpdates=False + dedupe",
                pick("ccxt.pro newUpdates", "delivered_rate")),
            Row("feed", f"{title}: end to end, msgs",
                pick("liqtui StreamClient", "rate"), "msgs/s",
                "wire: aiohttp receive only (the ceiling)", pick("wire", "rate")),
        ]  # fmt: skip
    return rows


# -- tui --------------------------------------------------------------------------------------
def tui_rows(quick: bool, raw: dict[str, object]) -> list[Row]:
    from benchmarks import tui_bench

    seconds, warmup, runs = (4.0, 2.0, 1) if quick else (8.0, 3.0, 2)
    results = []
    for i in range(runs):
        results.append(tui_bench.measure(seconds=seconds, warmup=warmup))
        log(f"tui: run {i + 1}/{runs} done")
    raw["tui"] = results
    rows = []
    for mode, label in (("quiet", "quiet"), ("burst", "cascade burst")):
        line = [r[mode] for r in results]
        whole = [r[f"{mode} whole-widget"] for r in results]
        rows += [
            Row("tui", f"TUI CPU, {label} (160×50, 4 fps, ladder)",
                [x["cpu_pct"] for x in line], "%", "whole-widget refresh, same view",
                [x["cpu_pct"] for x in whole], invert=True, word="less"),
            Row("tui", f"TUI terminal bytes/s, {label}", [x["bytes_per_s"] for x in line], "B/s",
                "whole-widget refresh, same view", [x["bytes_per_s"] for x in whole],
                invert=True, word="fewer",
                note=f"rows repainted {int(line[0]['dirty_rows'])} vs "
                     f"{int(whole[0]['dirty_rows'])} in {int(line[0]['updates'])} frames; "
                     f"{seconds:g} s measured after {warmup:g} s"),
        ]  # fmt: skip
    return rows


# -- app, soak --------------------------------------------------------------------------------
def app_rows(quick: bool, raw: dict[str, object]) -> list[Row]:
    from benchmarks import app_bench

    rows = app_bench.figures(quick=quick, log=log)
    raw["app"] = [r.as_dict() for r in rows]
    return rows


def soak_rows(quick: bool, raw: dict[str, object]) -> list[Row]:
    from benchmarks import soak

    d = soak.soak(hours=1.0, speed=10.0)
    raw["soak"] = {k: v for k, v in d.items() if k != "samples"}
    print(soak.report(d), file=sys.stderr, flush=True)
    s: dict = d["summary"]  # type: ignore[assignment]
    rss = s["rss_mb"]
    verdict = (f"memory {'flat' if s['memory_flat'] else 'GROWING'}, CPU "
               f"{'steady' if s['cpu_steady'] else 'UNSTEADY'}, replay "
               f"{'kept up' if d['kept_up'] else 'FELL BEHIND'}")  # fmt: skip
    return [
        Row("soak", "soak 1 h at 10×: RSS slope (MB per minute of wall time)",
            [s["slope_mb_per_min"]], "", note=f"RSS {rss['start']:.1f} → {rss['middle']:.1f} → "
            f"{rss['end']:.1f} MB; {verdict}"),
        Row("soak", "soak 1 h at 10×: CPU per minute, mean (% of a core)", s["cpu_pct_per_min"],
            "%", note=f"stdev {s['cpu_pct_stdev']:.1f} points"),
    ]  # fmt: skip


# -- history (issue 15) -----------------------------------------------------------------------
def history_rows(quick: bool, raw: dict[str, object]) -> list[Row]:
    import asyncio

    from benchmarks import backfill_bench, warm_start

    days = 3 if quick else 7
    w = warm_start.measure(days=days, rounds=2 if quick else 3)
    b = asyncio.run(backfill_bench.measure_both(float(days), ("BTC", "ETH", "SOL")))
    raw["history"] = {"warm_start": w, "backfill": b}
    runs: list[dict[str, float]] = w["runs"]
    col: Callable[[str], list[float]] = lambda k: [r[k] for r in runs]  # noqa: E731
    real, free = b["limited"], b["unlimited"]
    store = f"store of {days} days × 3 markets × 3 exchanges"
    return [
        Row("history", f"warm start to a full map ({store})", col("first"), "s",
            "SQLite read of the window, no model", col("read_window"),
            note=f"target {warm_start.TARGET_S} s"),
        Row("history", "warm start to a full map", col("first"), "s",
            "direct Engine replay of the window (no preloader)", col("direct_window")),
        Row("history", "warm start, every day in", col("done"), "s",
            "direct Engine replay of every day", col("direct_all")),
        Row("history", "store size per market-exchange-day", [w["per_day_bytes"]], "B"),
        Row("history", f"cold {days}-day backfill, BTC+ETH+SOL × 3 exchanges, wall",
            [real["seconds"]], "s", "budget floor (weight ÷ allowed rate)", [real["floor_s"]],
            note=f"{real['requests']} requests"),
        Row("history", f"cold {days}-day backfill, wall", [real["seconds"]], "s",
            "same fetch, unlimited budget", [free["seconds"]]),
    ]  # fmt: skip


# -- calibrate (issue 13) ---------------------------------------------------------------------
def calibrate_rows(quick: bool, raw: dict[str, object]) -> list[Row]:
    from benchmarks import calibrate_bench

    res = calibrate_bench.measure(runs=2 if quick else 3)
    raw["calibrate"] = res
    names = {"synthetic": "180 d of hourly bars, synthetic (4,320)",
             "development": "the development set (4,312 hourly bars)"}  # fmt: skip
    rows = []
    for key, label in names.items():
        t = res.get(key)
        if not isinstance(t, dict):
            continue
        note = f"target < {calibrate_bench.TARGET_S:g} s, wall incl. start"
        peer = "bare replay of the same recording (snapshot)"
        rows.append(Row("calibrate", f"calibrate --window 1h, {label}", t["calibrate"], "s",
                        peer, t["replay"], note=note))  # fmt: skip
    return rows


RUNNERS: dict[str, Callable[[bool, dict[str, object]], list[Row]]] = {
    "model": model_rows,
    "feed": feed_rows,
    "tui": tui_rows,
    "app": app_rows,
    "calibrate": calibrate_rows,
    "soak": soak_rows,
    "history": history_rows,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    p.add_argument("--only", help=f"comma-separated sections: {', '.join(SECTIONS + OPTIONAL)}")
    p.add_argument("--json", type=Path, help="write the machine, the rows and every run here")
    args = p.parse_args(argv)
    sections = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = [s for s in sections if s not in RUNNERS]
    if unknown:
        p.error(f"unknown section(s) {unknown}; choose from {', '.join(SECTIONS + OPTIONAL)}")

    where = prefer_installed_liqtui()
    m = machine()
    command = "python -m benchmarks" + (" " + " ".join(sys.argv[1:]) if sys.argv[1:] else "")
    header = [
        f"liqtui benchmarks — {m['date_utc']}",
        machine_text(m),
        f"liqtui imported from {where}",
        f"command: {command}",
    ]
    print("\n".join(header), flush=True)
    rows: list[Row] = []
    raw: dict[str, object] = {}
    timings: dict[str, float] = {}
    for section in sections:
        log(f"{section} …")
        start = time.perf_counter()
        rows += RUNNERS[section](args.quick, raw)
        timings[section] = time.perf_counter() - start
        log(f"{section} done in {timings[section]:.0f} s")
    m_end = machine()
    print()
    print(render_table(rows))
    load = " ".join(f"{x:g}" for x in m_end["load_avg"])  # type: ignore[attr-defined]
    print(f"\nratio: figure ÷ peer (peer ÷ figure where it says faster, less or fewer), the "
          f"median of the per-run ratios (their range); sections took "
          f"{', '.join(f'{k} {v:.0f} s' for k, v in timings.items())}; load average at the end "
          f"{load}")  # fmt: skip
    if m_end.get("checkout") != m.get("checkout"):
        print(f"the checkout changed during the run: now {m_end.get('checkout')}")
    if args.json:
        args.json.write_text(json.dumps({
            "header": header, "machine": m, "machine_end": m_end, "timings_s": timings,
            "rows": [r.as_dict() for r in rows], "raw": raw,
        }, indent=1, default=str) + "\n")  # fmt: skip
    medians = [r.median for r in rows]
    return 0 if all(x == x for x in medians) else 1  # NaN: a figure could not be measured


if __name__ == "__main__":
    sys.exit(main())
