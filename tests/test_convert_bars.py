"""`liqtui convert-bars`: bar CSVs (generated here, never the shared data) → a recording whose
replay gives the bar's path, its open interest and one print per bar and side."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from liqtui.cli import main
from liqtui.commands.convert_bars import BarsError, convert
from liqtui.events import Liquidation, MarkPrice, OpenInterest, TradeFlow
from liqtui.feeds.replay import ReplaySource

H = 3_600_000
T0 = 1_767_225_600_000  # 2026-01-01 00:00 UTC
WIDE = (
    "timestamp,datetime_utc,price_open,price_high,price_low,price_close,liquidation_long_usd,"
    "liquidation_short_usd,liquidation_total_usd,funding_open,funding_high,funding_low,"
    "funding_close,oi_open,oi_high,oi_low,oi_close\n"
)


def _wide_row(t: int, o: float, h: float, lo: float, c: float, long_usd: float, short_usd: float,
              oi: float, funding: float = 0.01) -> str:  # fmt: skip
    return (
        f"{t},x,{o},{h},{lo},{c},{long_usd},{short_usd},{long_usd + short_usd},"
        f"{funding},{funding},{funding},{funding},{oi},{oi},{oi},{oi}\n"
    )


class _Sink:
    """Collects the events a replay applies (an EventSink without a model)."""

    def __init__(self) -> None:
        from liqtui.health import FeedHealth

        self.events: list[object] = []
        self.health: dict[str, FeedHealth] = {}
        self.make = FeedHealth

    def feed(self, name: str):  # type: ignore[no-untyped-def]
        return self.health.setdefault(name, self.make(name))

    def apply(self, event: object) -> bool:
        self.events.append(event)
        return True

    def advance(self, now_ms: int) -> None:
        pass


def _events(path: Path) -> list[object]:
    sink = _Sink()
    ReplaySource(path, speed=None).run_sync(sink)  # type: ignore[arg-type]
    return sink.events


def test_hourly_bars_become_marks_prints_klines_and_open_interest(tmp_path: Path) -> None:
    csv = tmp_path / "bars.csv"
    csv.write_text(
        WIDE
        + _wide_row(T0, 100.0, 103.0, 98.0, 102.0, 5_000.0, 600.0, 1e6)  # up: low first
        + _wide_row(T0 + H, 102.0, 104.0, 99.0, 100.0, 0.0, 2_000.0, 1.2e6)  # down: high first
        + _wide_row(T0 + 3 * H, 100.0, 101.0, 99.5, 100.5, 300.0, 0.0, 1.2e6)  # a missing bar
    )
    out = tmp_path / "bars.jsonl.gz"
    stats = convert(csv, out)
    assert (stats.bars, stats.gaps, stats.oi_repeated, stats.prints) == (3, 1, 1, 4)
    assert stats.bar_ms == H and sum(stats.skipped.values()) == 0
    with gzip.open(out, "rt") as fh:
        times = [json.loads(line)["t"] for line in fh]
    assert times == sorted(times) and len(times) == stats.lines
    events = _events(out)
    marks = [e for e in events if isinstance(e, MarkPrice)]
    assert [m.mark_price for m in marks[:8]] == [100.0, 98.0, 103.0, 102.0, 102.0, 104.0, 99.0,
                                                  100.0]  # fmt: skip
    assert marks[0].funding_rate == pytest.approx(0.0001)  # 0.01 % → a fraction
    prints = [e for e in events if isinstance(e, Liquidation)]
    assert [(p.side, p.price, round(p.notional_usd, 6)) for p in prints] == [
        ("long", 98.0, 5_000.0),
        ("short", 103.0, 600.0),
        ("short", 104.0, 2_000.0),
        ("long", 99.5, 300.0),
    ]
    assert all(T0 <= p.time_ms - (p.time_ms - T0) // H * H < T0 + H for p in prints)
    ois = [e for e in events if isinstance(e, OpenInterest)]
    # The first bar's opening OI, its close, the second's; the third repeats it: no reading.
    assert [round(o.open_interest * p, 3) for o, p in zip(ois, (100.0, 102.0, 100.0), strict=True)
            ] == [1e6, 1e6, 1.2e6]  # fmt: skip
    flows = [e for e in events if isinstance(e, TradeFlow)]
    assert len(flows) == 3 and flows[0].high == 103.0 and flows[0].low == 98.0
    assert flows[0].taker_buy_base == 0.0  # no taker data: no tilt invented


def test_four_hour_bars_with_taker_volume(tmp_path: Path) -> None:
    csv = tmp_path / "bars4h.csv"
    rows = ["t,o,h,l,c,oi_usd,buy_usd,sell_usd,funding,liq_long,liq_short"]
    for i in range(3):
        rows.append(f"{T0 + i * 4 * H},100,102,99,101,5e9,3000,1000,,10,20")
    csv.write_text("\n".join(rows) + "\n")
    out = tmp_path / "bars4h.jsonl"
    stats = convert(csv, out)
    assert stats.bar_ms == 4 * H and stats.bars == 3
    events = _events(out)
    flows = [e for e in events if isinstance(e, TradeFlow)]
    assert flows[0].taker_buy_base == pytest.approx(3 * flows[0].taker_sell_base)
    assert flows[0].interval_ms == 4 * H
    assert all(m.funding_rate is None for m in events if isinstance(m, MarkPrice))


def test_bad_rows_are_counted_and_skipped(tmp_path: Path) -> None:
    csv = tmp_path / "bad.csv"
    csv.write_text(
        WIDE
        + _wide_row(T0, 100.0, 103.0, 98.0, 102.0, 1.0, 1.0, 1e6)
        + _wide_row(T0 + H, 100.0, 99.0, 98.0, 102.0, 1.0, 1.0, 1e6)  # close above the high
        + _wide_row(T0 + 2 * H, -1.0, 103.0, 98.0, 102.0, 1.0, 1.0, 1e6)  # negative price
        + _wide_row(T0 + 3 * H, 100.0, 103.0, 98.0, 102.0, -5.0, 1.0, 1e6)  # negative total
        + f"{T0 + 4 * H},x,abc,1,1,1,1,1,2,0,0,0,0,1,1,1,1\n"  # not a number
        + f"{T0 + 5 * H},x,1,2\n"  # cut short
        + _wide_row(T0, 100.0, 103.0, 98.0, 102.0, 1.0, 1.0, 1e6)  # the first bar again
        + _wide_row(T0 + 6 * H, 100.0, 103.0, 98.0, 102.0, 1.0, 1.0, 1e6)
    )
    stats = convert(csv, tmp_path / "out.jsonl")
    assert stats.rows == 8 and stats.bars == 2 and sum(stats.skipped.values()) == 6
    assert stats.bar_ms == 6 * H  # the one step there is
    text = stats.text(csv, tmp_path / "out.jsonl")
    assert "skipped 6 of 8 rows" in text and "1 with a non-positive price" in text


def test_unconvertible_files_are_usage_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "user.toml").write_text("")
    monkeypatch.setenv("LIQTUI_CONFIG", str(tmp_path / "user.toml"))
    no_liq = tmp_path / "no_liq.csv"
    no_liq.write_text("timestamp,open,high,low,close,oi_usd\n1,1,1,1,1,1\n")
    with pytest.raises(BarsError, match="no column for long_usd"):
        convert(no_liq, tmp_path / "x.jsonl")
    out = tmp_path / "o.jsonl"
    assert main(["convert-bars", str(no_liq), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no column for long_usd" in err and not out.exists()
    assert main(["convert-bars", str(tmp_path / "missing.csv"), "--out", str(out)]) == 2
    assert "no such file" in capsys.readouterr().err
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    assert main(["convert-bars", str(empty), "--out", str(out)]) == 2
    assert "empty file" in capsys.readouterr().err
    one = tmp_path / "one.csv"
    one.write_text(WIDE + _wide_row(T0, 100.0, 103.0, 98.0, 102.0, 1.0, 1.0, 1e6))
    assert main(["convert-bars", str(one), "--out", str(out)]) == 2
    assert "bar length is unknown" in capsys.readouterr().err
    assert main(["convert-bars", str(one), "--out", str(out), "--bar", "1h"]) == 0
    assert "1 bars of 1h" in capsys.readouterr().out
    assert main(["convert-bars", str(one), "--out", str(out), "--bar", "1h"]) == 2  # exists
    assert "never overwritten" in capsys.readouterr().err


def test_converted_bars_calibrate_end_to_end(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three days of generated hourly bars → convert-bars → calibrate --format json: every
    scored hour gives a long and a short row, whose R sums to the bars' totals."""
    (tmp_path / "user.toml").write_text("")
    monkeypatch.setenv("LIQTUI_CONFIG", str(tmp_path / "user.toml"))
    rng = np.random.default_rng(9)
    price, oi, rows = 100_000.0, 7e9, []
    for i in range(72):
        o, c = price, price * (1 + rng.normal(0, 0.006))
        h, lo = (
            max(o, c) * (1 + abs(rng.normal(0, 0.003))),
            min(o, c) * (1 - abs(rng.normal(0, 0.003))),
        )
        oi *= 1 + rng.normal(0, 0.004)
        rows.append(_wide_row(T0 + i * H, o, h, lo, c, 1e5 * (o - lo), 1e5 * (h - o), oi))
        price = c
    csv = tmp_path / "bars.csv"
    csv.write_text(WIDE + "".join(rows))
    rec = tmp_path / "bars.jsonl.gz"
    assert main(["convert-bars", str(csv), "--out", str(rec)]) == 0
    capsys.readouterr()
    argv = [
        "calibrate",
        "--replay",
        str(rec),
        "--symbol",
        "BTC",
        "--window",
        "1h",
        "--warmup",
        "1h",
    ]
    assert main([*argv, "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    windows = doc["windows"]
    assert doc["n_windows"] == 71 and len(windows) == doc["n_pairs"] == 142
    assert [w["side"] for w in windows[:2]] == ["long", "short"]
    assert all(w["end_ms"] - w["start_ms"] == H for w in windows)
    expected = sum(1e5 * (float(r.split(",")[2]) - float(r.split(",")[4])) for r in rows[1:])
    long_r = sum(w["realized_usd"] for w in windows if w["side"] == "long")
    assert long_r == pytest.approx(expected, rel=1e-6)
    assert doc["model"]["partial"] is not None and doc["model"]["n"] == 142
