"""Turn the shared real Binance data into liqtui recordings (in /tmp, never in the repository).

    python benchmarks/calibrate_shared_data.py [--data ../shared/data] [--out /tmp/liqtui-shared]
    liqtui calibrate --replay /tmp/liqtui-shared/btc_2026-06_klines_oi.jsonl.gz --symbol BTC
    liqtui calibrate --replay /tmp/liqtui-shared/btc_forceorder_2025.jsonl.gz --symbol BTC

Inputs (../shared/data/README.md; no licence: local checks only, never copied into the repo):
- binance_btcusdt_5m_klines_oi_2026-06_*/…csv: 4,406 BTCUSDT 5-minute bars (15.3 days) with open
  interest in USD (sumOpenInterestValue), funding and cumulative taker delta (CVD). Per bar the
  recording holds: four markPriceUpdate messages (open, then low and high in the order the
  candle's colour suggests, then close; funding rate `r`), one closed kline, and one
  openInterest REST reply with OI in coins = oi_close / close. Rows whose OI repeats the previous
  row (forward-filled by the source script: no reading that bar) get no OI message, so the next
  real reading's change spans the gap. The file has no taker volume, only ΔCVD: the kline's
  volumes are set so that the taker imbalance is ±0.3 by the sign of ΔCVD (0 when flat), which
  with the default k = 0.5 is the 0.65/0.35 aggressor split of the models.md §5.4 prototype; the
  VWAP is the typical price (h + l + c)/3.
- binance_forceorder_*/binance.csv: `!forceOrder@arr` captures (2025-01 and 2025-12). The BTC
  rows become forceOrder messages (the `o` fields as Binance sends them).

The two sources do not overlap in time (2025 prints, 2026 bars), so a calibration on them can
only say that: see docs/model.md.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BAR_MS = 300_000
KLINE_DIR = "binance_btcusdt_5m_klines_oi_2026-06_ismethanhtung"
FORCE_DIRS = ("binance_forceorder_2025-01_pauliusminialga", "binance_forceorder_2025-12_riftfern")
FORCE_COLUMNS = ("s", "S", "o", "f", "q", "p", "ap", "X", "l", "z", "T")
IMBALANCE = 0.3


def line(t: int, msg: object, rest: str | None = None) -> str:
    doc: dict[str, object] = {"t": t, "ex": "binance", "msg": msg}
    if rest:
        doc["rest"] = rest
    return json.dumps(doc, separators=(",", ":")) + "\n"


def mark(t: int, price: float, funding: float) -> dict[str, object]:
    return {"e": "markPriceUpdate", "E": t, "s": "BTCUSDT", "p": f"{price}", "r": f"{funding}"}


def klines_to_recording(csv_path: Path, out: Path) -> dict[str, int]:
    stats = {"bars": 0, "oi_readings": 0, "oi_forward_filled": 0, "flat_cvd": 0}
    prev_oi: float | None = None
    prev_cvd: float | None = None
    with csv_path.open(newline="") as fh, gzip.open(out, "wt") as dst:
        for row in csv.DictReader(fh):
            t = int(row["timestamp"])
            o, h, lo, c = (
                float(row[k]) for k in ("price_open", "price_high", "price_low", "price_close")
            )
            funding = float(row["funding_close"])
            oi_usd, cvd = float(row["oi_close"]), float(row["cvd_close"])
            # The mark path: open, the nearer extreme first (a green bar dips, then rallies), close.
            first, second = (lo, h) if c >= o else (h, lo)
            for dt, price in ((1_000, o), (100_000, first), (200_000, second), (299_000, c)):
                dst.write(line(t + dt, mark(t + dt, price, funding)))
            d_cvd = 0.0 if prev_cvd is None else cvd - prev_cvd
            prev_cvd = cvd
            imb = IMBALANCE if d_cvd > 0 else -IMBALANCE if d_cvd < 0 else 0.0
            stats["flat_cvd"] += imb == 0.0
            volume = max(abs(d_cvd) / IMBALANCE, 1.0)
            vwap = (h + lo + c) / 3
            k = {"t": t, "T": t + BAR_MS - 1, "s": "BTCUSDT", "i": "5m", "o": f"{o}", "h": f"{h}",
                 "l": f"{lo}", "c": f"{c}", "v": f"{volume}", "V": f"{volume * (1 + imb) / 2}",
                 "q": f"{volume * vwap}", "x": True}  # fmt: skip
            end = t + BAR_MS - 1
            dst.write(line(end - 50, {"e": "kline", "E": end - 50, "s": "BTCUSDT", "k": k}))
            stats["bars"] += 1
            if prev_oi is not None and oi_usd == prev_oi:
                stats["oi_forward_filled"] += 1
                continue
            prev_oi = oi_usd
            reply = {"symbol": "BTCUSDT", "openInterest": f"{oi_usd / c}", "time": end - 10}
            dst.write(line(end - 10, reply, rest="/fapi/v1/openInterest?symbol=BTCUSDT"))
            stats["oi_readings"] += 1
    return stats


def force_orders_to_recording(csv_paths: list[Path], out: Path) -> dict[str, int]:
    rows = []
    for path in csv_paths:
        with path.open(newline="") as fh:
            for rec in csv.reader(fh):
                if len(rec) >= 12 and rec[0].strip() == "BTC":
                    rows.append([v.strip() for v in rec[:11]])
    rows.sort(key=lambda r: int(r[10]))
    with gzip.open(out, "wt") as dst:
        for r in rows:
            o = dict(zip(FORCE_COLUMNS, r, strict=True))
            o["s"] = "BTCUSDT"  # the capture script stripped USDT from every line
            o["T"] = int(o["T"])  # type: ignore[assignment]
            t = int(r[10])
            dst.write(
                line(t, {"stream": "!forceOrder@arr", "data": {"e": "forceOrder", "E": t, "o": o}})
            )
    return {"prints": len(rows)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    ap.add_argument("--out", type=Path, default=Path("/tmp/liqtui-shared"))
    args = ap.parse_args()
    out = args.out.resolve()
    if out == REPO or REPO in out.parents:
        print("refusing to write the shared data into the repository", file=sys.stderr)
        return 2
    out.mkdir(parents=True, exist_ok=True)
    csv_path = next((args.data / KLINE_DIR).glob("*.csv"))
    klines = out / "btc_2026-06_klines_oi.jsonl.gz"
    print(klines, klines_to_recording(csv_path, klines))
    prints = out / "btc_forceorder_2025.jsonl.gz"
    print(
        prints,
        force_orders_to_recording([args.data / d / "binance.csv" for d in FORCE_DIRS], prints),
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
